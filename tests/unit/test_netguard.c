/*
 * test_netguard - which addresses Chat4All's own requests may reach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static bool ok(const struct netguard *g, const char *ip, int port, char why[160])
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	}
	return netguard_allowed(g, (struct sockaddr *)&ss, why);
}

static void test_denied_by_default(void **state)
{
	char err[128], why[160];
	struct netguard *g = netguard_new("", err, sizeof(err));
	(void)state;

	assert_non_null(g);
	assert_true(ok(g, "93.184.216.34", 443, why));			/* the internet */
	assert_true(ok(g, "2606:2800:220:1::1", 443, why));
	const char *inside[] = { "127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255",
				 "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
				 "255.255.255.255", "::1", "::", "fd00:ec2::254", "fe80::1", "ff02::1",
				 "::ffff:127.0.0.1", "::ffff:10.0.0.1" };
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
		why[0] = '\0';
		assert_false(ok(g, inside[i], 80, why));
		assert_true(why[0]);
	}
	assert_false(ok(g, "169.254.169.254", 80, why));
	assert_non_null(strstr(why, "metadata"));
	assert_true(ok(g, "172.32.0.1", 80, why));	/* just past 172.16/12 */
	netguard_free(g);
}

static void test_allow_list(void **state)
{
	char err[128], why[160];
	struct netguard *g = netguard_new(" 10.1.0.0/16 , 127.0.0.1/32:8099,::1/128", err, sizeof(err));
	(void)state;

	assert_non_null(g);
	assert_true(ok(g, "10.1.200.3", 80, why));
	assert_false(ok(g, "10.2.0.1", 80, why));
	assert_true(ok(g, "127.0.0.1", 8099, why));
	assert_false(ok(g, "127.0.0.1", 8080, why));	/* that port only */
	assert_true(ok(g, "::1", 5, why));
	netguard_free(g);
	const char *bad[] = { "10.0.0.0", "10.0.0.0/33", "nope/8", "127.0.0.1/32:0", "127.0.0.1/32:x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(netguard_new(bad[i], err, sizeof(err)));
		assert_non_null(strstr(err, "outbound_allow"));
	}
	netguard_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_denied_by_default),
		cmocka_unit_test(test_allow_list),
	};
	return cmocka_run_group_tests_name("netguard", tests, NULL, NULL);
}
