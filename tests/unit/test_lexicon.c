/* Unit tests of lib/lexicon.c: normalisation and whole-word matching
 * against the shipped word lists (conf/moderation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../lib/lexicon.h"

static struct lexicon *lx;

static int setup(void **state)
{
	char err[256];
	(void)state;
	lx = lexicon_load("conf/moderation", err, sizeof(err));
	if (!lx)
		print_error("%s\n", err);
	return lx ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	lexicon_free(lx);
	return 0;
}

static void assert_norm(const char *in, const char *want)
{
	char out[256];
	lexicon_normalize(in, out, sizeof(out));
	if (strcmp(out, want))
		print_error("normalize(\"%s\") = \"%s\", want \"%s\"\n", in, out, want);
	assert_string_equal(out, want);
}

static void test_normalize(void **state)
{
	(void)state;
	assert_norm("Idiota", "idiota");
	assert_norm("IDIOOOOTA!!!", "idiota");
	assert_norm("1d10t4", "idiota");
	assert_norm("i.d.i.o.t.a", "idiota");
	assert_norm("i d i o t a", "idiota");
	assert_norm("i-d-i-o-o-t-a", "idiota");
	assert_norm("são inferiores", "sao inferiores");
	assert_norm("Ação, CORAÇÃO; pé", "acao coracao pe");
	assert_norm("  spaces   and\ttabs\n", "spaces and tabs");
	assert_norm("", "");
	assert_norm("\xff\xfe broken", "broken");
}

static void assert_category(const char *text, const char *want)
{
	char match[128] = "";
	const char *got = lexicon_check(lx, text, match, sizeof(match));
	if (want ? !got || strcmp(got, want) : got != NULL)
		print_error("check(\"%s\") = %s (%s), want %s\n", text, got ? got : "none",
			    match, want ? want : "none");
	if (want) {
		assert_non_null(got);
		assert_string_equal(got, want);
	} else {
		assert_null(got);
	}
}

static void test_catches(void **state)
{
	(void)state;
	assert_true(lexicon_size(lx) > 50);
	assert_category("Eu odeio essas pessoas, elas são inferiores", "hate");
	assert_category("seu 1d10t4", "harassment");
	assert_category("você é um i.d.i.o.t.a", "harassment");
	assert_category("IDIOOOOTA", "harassment");
	assert_category("Vou te matar amanhã", "violence");
	assert_category("you are an IDIOT", "harassment");
	assert_category("I will kill you", "violence");
	assert_category("they are subhuman", "hate");
	assert_category("send nudes", "sexual");
}

static void test_innocent(void **state)
{
	(void)state;
	/* words that contain listed ones, and ordinary talk */
	assert_category("a classic assessment of the bass", NULL);
	assert_category("the idiotic plan", NULL);	/* not the listed word */
	assert_category("Bom dia! Vamos almoçar às 12h?", NULL);
	assert_category("a parte inferior da página", NULL);
	assert_category("o macacão azul", NULL);
	assert_category("Scunthorpe United won", NULL);
	assert_category("I killed it at the presentation", NULL);
	assert_category("", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_catches),
		cmocka_unit_test(test_innocent),
	};
	return cmocka_run_group_tests_name("lexicon", tests, setup, teardown);
}
