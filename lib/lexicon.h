/*
 * lexicon.h - the built-in moderation provider: word lists per language
 * (the .txt files of conf/moderation, lines "category phrase"), matched on whole words
 * after normalisation, so that "1d10t4", "i.d.i.o.t.a" and "IDIOOOTA" are
 * the listed "idiota", while "classic" does not contain a listed "ass".
 */
#ifndef CHAT4ALL_LEXICON_H
#define CHAT4ALL_LEXICON_H

#include <stddef.h>

struct lexicon;

/* lexicon_load - every *.txt in @dir. NULL with a message in @err. */
struct lexicon *lexicon_load(const char *dir, char *err, size_t errlen);
void lexicon_free(struct lexicon *lx);

/* lexicon_size - phrases loaded. */
size_t lexicon_size(const struct lexicon *lx);

/*
 * lexicon_check - the category of the first listed phrase (of up to three
 * words) in @text, or NULL when none is there; the normalised phrase goes
 * to @match.
 */
const char *lexicon_check(const struct lexicon *lx, const char *text, char *match,
			  size_t matchlen);

/*
 * lexicon_normalize - @text as lowercase ASCII words separated by single
 * spaces: diacritics and leetspeak folded, repeated letters collapsed,
 * letters spelt out one by one joined. Returns the length written.
 */
size_t lexicon_normalize(const char *text, char *out, size_t outlen);

#endif
