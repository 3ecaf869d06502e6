/*
 * netguard.c - see netguard.h.
 */
#include "netguard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct range {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;		/* bits */
	int port;		/* 0: any */
};

struct netguard {
	struct range *allow;
	size_t n;
};

/* What no stranger may make us reach, and what each is called. */
static const struct {
	int family;
	const char *addr;
	int prefix;
	const char *what;
} denied[] = {
	{ AF_INET, "0.0.0.0", 8, "a 'this network' address" },
	{ AF_INET, "10.0.0.0", 8, "a private address" },
	{ AF_INET, "100.64.0.0", 10, "a carrier-grade NAT address" },
	{ AF_INET, "127.0.0.0", 8, "a loopback address" },
	{ AF_INET, "169.254.0.0", 16, "a link-local address (cloud metadata lives there)" },
	{ AF_INET, "172.16.0.0", 12, "a private address" },
	{ AF_INET, "192.0.0.0", 24, "a protocol-assignment address" },
	{ AF_INET, "192.168.0.0", 16, "a private address" },
	{ AF_INET, "198.18.0.0", 15, "a benchmarking address" },
	{ AF_INET, "224.0.0.0", 4, "a multicast address" },
	{ AF_INET, "240.0.0.0", 4, "a reserved address" },
	{ AF_INET6, "::", 128, "the unspecified address" },
	{ AF_INET6, "::1", 128, "a loopback address" },
	{ AF_INET6, "fc00::", 7, "a private (unique local) address" },
	{ AF_INET6, "fe80::", 10, "a link-local address" },
	{ AF_INET6, "ff00::", 8, "a multicast address" },
	{ AF_INET6, "64:ff9b::", 96, "a NAT64 address" },
	{ AF_INET6, "2001:db8::", 32, "a documentation address" },
};

static bool in_range(const unsigned char *addr, const unsigned char *net, int prefix)
{
	int bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(addr, net, (size_t)bytes))
		return false;
	if (!bits)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - bits));
	return (addr[bytes] & mask) == (net[bytes] & mask);
}

static void trim(char *s)
{
	char *e = s + strlen(s);

	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	memmove(s, s + strspn(s, " \t"), strlen(s + strspn(s, " \t")) + 1);
}

/* "addr/prefix[:port]" */
static int parse_range(char *s, struct range *r)
{
	char *slash = strchr(s, '/'), *end;

	if (!slash)
		return -1;
	*slash = '\0';
	r->prefix = (int)strtol(slash + 1, &end, 10);
	r->port = 0;
	if (*end == ':') {
		r->port = (int)strtol(end + 1, &end, 10);
		if (r->port <= 0 || r->port > 65535)
			return -1;
	}
	if (*end || end == slash + 1)
		return -1;
	if (inet_pton(AF_INET, s, r->addr) == 1) {
		r->family = AF_INET;
		return r->prefix >= 0 && r->prefix <= 32 ? 0 : -1;
	}
	if (inet_pton(AF_INET6, s, r->addr) == 1) {
		r->family = AF_INET6;
		return r->prefix >= 0 && r->prefix <= 128 ? 0 : -1;
	}
	return -1;
}

struct netguard *netguard_new(const char *allow, char *err, size_t errlen)
{
	struct netguard *g = calloc(1, sizeof(*g));
	char *list = strdup(allow ? allow : ""), *save = NULL;

	if (!g || !list) {
		free(g);
		free(list);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct range r, *grown;
		trim(tok);
		if (!*tok)
			continue;
		char copy[128];
		snprintf(copy, sizeof(copy), "%s", tok);
		if (parse_range(tok, &r) || !(grown = realloc(g->allow, (g->n + 1) * sizeof(r)))) {
			snprintf(err, errlen, "outbound_allow: '%s' is not an address/prefix[:port]", copy);
			free(list);
			netguard_free(g);
			return NULL;
		}
		g->allow = grown;
		g->allow[g->n++] = r;
	}
	free(list);
	return g;
}

void netguard_free(struct netguard *g)
{
	if (!g)
		return;
	free(g->allow);
	free(g);
}

bool netguard_allowed(const struct netguard *g, const struct sockaddr *sa, char why[160])
{
	unsigned char addr[16], v4[4];
	int family = sa->sa_family, port;
	char text[INET6_ADDRSTRLEN] = "?";

	if (family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(addr, &in->sin_addr, 4);
		port = ntohs(in->sin_port);
	} else if (family == AF_INET6) {
		const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
		memcpy(addr, &in->sin6_addr, 16);
		port = ntohs(in->sin6_port);
		/* an IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address */
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (!memcmp(addr, mapped, 12)) {
			memcpy(v4, addr + 12, 4);
			memcpy(addr, v4, 4);
			family = AF_INET;
		}
	} else {
		snprintf(why, 160, "not an internet address");
		return false;
	}
	inet_ntop(family, addr, text, sizeof(text));
	for (size_t i = 0; g && i < g->n; i++)
		if (g->allow[i].family == family && in_range(addr, g->allow[i].addr, g->allow[i].prefix) &&
		    (!g->allow[i].port || g->allow[i].port == port))
			return true;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		unsigned char net[16];
		if (denied[i].family != family || inet_pton(family, denied[i].addr, net) != 1)
			continue;
		if (in_range(addr, net, denied[i].prefix)) {
			snprintf(why, 160, "%s is %s", text, denied[i].what);
			return false;
		}
	}
	return true;
}

static curl_socket_t open_checked(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct netguard_check *c = arg;
	char why[160];

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (!netguard_allowed(c->guard, &a->addr, why)) {
		snprintf(c->refused, sizeof(c->refused), "refused to connect: %s", why);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

void netguard_attach(CURL *h, struct netguard_check *c)
{
	c->refused[0] = '\0';
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_checked);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}
