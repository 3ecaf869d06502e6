/*
 * lexicon.c - normalisation and whole-word phrase matching. Phrases and
 * texts go through the same lexicon_normalize(), so whatever it folds
 * (accents, leetspeak, repeats) folds on both sides alike.
 */
#include "lexicon.h"

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS_IN_PHRASE 3

struct entry {
	char *phrase;		/* normalised */
	char *category;
};

struct lexicon {
	struct entry *e;
	size_t n, cap;
};

/* Latin-1 Supplement letters U+00C0..U+00FF to their base letter. */
static const char latin1_base[64] =
	"aaaaaaaceeeeiiii"	/* C0-CF */
	"dnooooo ouuuuyts"	/* D0-DF: × is a separator, ß folds to s */
	"aaaaaaaceeeeiiii"	/* E0-EF */
	"dnooooo ouuuuyty";	/* F0-FF: ÷ is a separator */

/* One code point from UTF-8; advances *s. Invalid bytes read as U+FFFD. */
static unsigned next_cp(const unsigned char **s)
{
	const unsigned char *p = *s;
	unsigned cp;
	int n;

	if (p[0] < 0x80) { *s += 1; return p[0]; }
	if ((p[0] & 0xE0) == 0xC0) { cp = p[0] & 0x1F; n = 1; }
	else if ((p[0] & 0xF0) == 0xE0) { cp = p[0] & 0x0F; n = 2; }
	else if ((p[0] & 0xF8) == 0xF0) { cp = p[0] & 0x07; n = 3; }
	else { *s += 1; return 0xFFFD; }
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80) { *s += i; return 0xFFFD; }
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	*s += n + 1;
	return cp;
}

/* A letter as lowercase ASCII, or 0 for a separator. */
static char fold(unsigned cp)
{
	if (cp < 0x80) {
		if (isalpha((int)cp))
			return (char)tolower((int)cp);
		switch (cp) {	/* leetspeak */
		case '0': return 'o';
		case '1': return 'i';
		case '3': return 'e';
		case '4': case '@': return 'a';
		case '5': case '$': return 's';
		case '7': return 't';
		default: return 0;
		}
	}
	if (cp >= 0xC0 && cp <= 0xFF)
		return latin1_base[cp - 0xC0] == ' ' ? 0 : latin1_base[cp - 0xC0];
	return 0;
}

size_t lexicon_normalize(const char *text, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = 0, word_start = 0;
	size_t singles = 0;	/* one-letter words in a row: "i.d.i.o.t.a" */
	char prev = 0;

	if (!outlen)
		return 0;
	for (;;) {
		bool at_end = !*s || n + 3 >= outlen;
		char c = at_end ? 0 : fold(next_cp(&s));
		if (c) {
			if (c != prev)	/* "idiooota" → "idiota" */
				out[n++] = c;
			prev = c;
			continue;
		}
		if (prev) {
			/* a word ended at out[word_start..n) */
			if (n - word_start == 1) {
				singles++;
				if (singles > 1 && out[n - 1] != out[n - 3]) {
					/* glue to the previous single letter: "i d" → "id" */
					out[n - 2] = out[n - 1];
					n--;
				} else if (singles > 1) {
					n -= 2;	/* the same letter again collapses */
				}
			} else {
				singles = 0;
			}
			out[n++] = ' ';
			word_start = n;
			prev = 0;
		}
		if (at_end)
			break;
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return n;
}

static int by_phrase(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->phrase, ((const struct entry *)b)->phrase);
}

static int load_file(struct lexicon *lx, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512], norm[512];

	if (!f) {
		snprintf(err, errlen, "cannot open '%s'", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *cat = line, *phrase;
		line[strcspn(line, "\r\n")] = '\0';
		while (isspace((unsigned char)*cat))
			cat++;
		if (!*cat || *cat == '#')
			continue;
		phrase = cat + strcspn(cat, " \t");
		if (!*phrase)
			continue;
		*phrase++ = '\0';
		if (!lexicon_normalize(phrase, norm, sizeof(norm)))
			continue;
		if (lx->n == lx->cap) {
			size_t cap = lx->cap ? lx->cap * 2 : 256;
			struct entry *e = realloc(lx->e, cap * sizeof(*e));
			if (!e)
				break;
			lx->e = e;
			lx->cap = cap;
		}
		lx->e[lx->n].phrase = strdup(norm);
		lx->e[lx->n].category = strdup(cat);
		lx->n++;
	}
	fclose(f);
	return 0;
}

struct lexicon *lexicon_load(const char *dir, char *err, size_t errlen)
{
	struct lexicon *lx = calloc(1, sizeof(*lx));
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!lx || !d) {
		snprintf(err, errlen, "cannot open the word lists in '%s'", dir);
		if (d)
			closedir(d);
		free(lx);
		return NULL;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char path[4096];
		if (len < 5 || strcmp(de->d_name + len - 4, ".txt"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (load_file(lx, path, err, errlen)) {
			closedir(d);
			lexicon_free(lx);
			return NULL;
		}
	}
	closedir(d);
	qsort(lx->e, lx->n, sizeof(*lx->e), by_phrase);
	return lx;
}

void lexicon_free(struct lexicon *lx)
{
	if (!lx)
		return;
	for (size_t i = 0; i < lx->n; i++) {
		free(lx->e[i].phrase);
		free(lx->e[i].category);
	}
	free(lx->e);
	free(lx);
}

size_t lexicon_size(const struct lexicon *lx)
{
	return lx ? lx->n : 0;
}

static const struct entry *find(const struct lexicon *lx, const char *phrase)
{
	struct entry key = { (char *)phrase, NULL };
	return bsearch(&key, lx->e, lx->n, sizeof(*lx->e), by_phrase);
}

const char *lexicon_check(const struct lexicon *lx, const char *text, char *match,
			  size_t matchlen)
{
	size_t len = strlen(text) * 2 + 2;
	char *norm = malloc(len), *words[4096];
	const char *category = NULL;
	size_t nw = 0;

	if (!norm)
		return NULL;
	lexicon_normalize(text, norm, len);
	for (char *p = norm; *p && nw < sizeof(words) / sizeof(words[0]);) {
		words[nw++] = p;
		p += strcspn(p, " ");
		if (*p)
			p++;
	}
	/* every run of 1..3 words starting at every word */
	for (size_t i = 0; i < nw && !category; i++) {
		char phrase[512];
		size_t plen = 0;
		for (size_t k = 0; k < MAX_WORDS_IN_PHRASE && i + k < nw; k++) {
			size_t wl = strcspn(words[i + k], " ");
			if (plen + wl + 2 > sizeof(phrase))
				break;
			if (k)
				phrase[plen++] = ' ';
			memcpy(phrase + plen, words[i + k], wl);
			plen += wl;
			phrase[plen] = '\0';
			const struct entry *e = find(lx, phrase);
			if (e) {
				category = e->category;
				snprintf(match, matchlen, "%s", phrase);
				break;
			}
		}
	}
	free(norm);
	return category;
}
