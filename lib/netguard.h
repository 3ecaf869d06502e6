/*
 * netguard.h - where Chat4All's own requests may go. The addresses an
 * outbound request reaches come from strangers (an integrator's webhook
 * URL, a media URL in a provider's payload): without a guard the server
 * would fetch its own loopback services, the private network, a cloud's
 * metadata endpoint, on their behalf (SSRF). Every address a request
 * connects to, after DNS resolution and after each redirect, is checked
 * here (libcurl's CURLOPT_OPENSOCKETFUNCTION): loopback, private,
 * link-local (the metadata address among them), carrier-grade NAT,
 * multicast and reserved ranges are refused unless the allow-list
 * (outbound_allow: "10.1.2.0/24, 127.0.0.1/32:8099", a CIDR with an
 * optional port) names them.
 */
#ifndef CHAT4ALL_NETGUARD_H
#define CHAT4ALL_NETGUARD_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct netguard;

/* netguard_new - the guard with @allow's exceptions; NULL and @err on a
 * malformed list. netguard_free accepts NULL. */
struct netguard *netguard_new(const char *allow, char *err, size_t errlen);
void netguard_free(struct netguard *g);

/* netguard_allowed - may a request connect to @sa? When not, @why says
 * what the address is ("127.0.0.1:8080 is a loopback address"). */
bool netguard_allowed(const struct netguard *g, const struct sockaddr *sa, char why[160]);

/* One request's check: the guard, and why it refused, if it did. */
struct netguard_check {
	const struct netguard *guard;
	char refused[200];	/* "" while nothing was refused */
};

/* netguard_attach - every connection @h makes goes through @c (which
 * must outlive the transfer). */
void netguard_attach(CURL *h, struct netguard_check *c);

#endif
