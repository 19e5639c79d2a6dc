/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15, first file — properties: the syntax of server.properties.
 *
 * Concept: Kafka's configuration files are Java properties files, and the
 *   syntax has corners: comments start with '#' or '!', the key ends at
 *   the first '=', ':' or blank, blanks around the separator go, and a
 *   line ending in an odd number of backslashes goes on with the next.
 *   This file cuts a text into (key, value, line number) and knows nothing
 *   of what the keys mean: 15_meta.c reads meta.properties with it, and
 *   15_config.c gives server.properties' keys their meaning.
 * Kafka: java.util.Properties.load, which Kafka's Utils.loadProps calls.
 * Interface:
 *   - broker_props_parse(text, fn, ctx, err) calls fn once per pair, with
 *     the number of the line the pair starts on; a status other than
 *     KB_OK from fn stops the parse and is returned.
 *   - broker_refuse fills a struct broker_error and returns KB_ERR_INVAL,
 *     so a caller can `return broker_refuse(err, "...")`.
 * Invariants:
 *   1. A logical line longer than BROKER_LINE_MAX - 1 bytes is an error
 *      naming its first line, never cut short.
 *   2. A comment line never continues, even when it ends in a backslash.
 * Simplifications: no backslash escapes (\t, \uXXXX) other than line
 *   continuation; the text is read as bytes, not ISO-8859-1.
 * See also: docs/15_properties.md, diagrams/15_properties.dot,
 *   tests/15_config_test.c (the syntax tests); read next: 15_meta.c.
 *   Uses chapter 00 (base).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "00_base.h"
#include "15_properties.h"

/* ---- Prototypes of static helpers ---- */

static int read_logical_line(const char **p, char *line, int *lineno,
			     struct broker_error *err);
static bool continues(const char *line, size_t len);

/* ---- Java properties syntax ---- */

/* Split text into key/value pairs and call fn for each, with the number of
 * the line the pair starts on. KAFKA: java.util.Properties.load: '#' and
 * '!' start comment lines, blank lines are skipped, and the key ends at the
 * first '=', ':' or blank; blanks around the separator are dropped. */
int broker_props_parse(const char *text, broker_props_line_fn fn,
		       void *ctx, struct broker_error *err)
{
	char line[BROKER_LINE_MAX];
	int lineno = 0;
	const char *p = text;
	while (*p) {
		int first = lineno + 1;
		if (read_logical_line(&p, line, &lineno, err) != KB_OK)
			return KB_ERR_INVAL;
		char *key = broker_trim(line);
		if (*key == '\0' || *key == '#' || *key == '!')
			continue;
		size_t klen = strcspn(key, "=: \t\f");
		char *value = key + klen;
		while (*value == ' ' || *value == '\t' || *value == '\f')
			value++;
		if (*value == '=' || *value == ':')
			value++;
		key[klen] = '\0';
		int rc = fn(ctx, key, broker_trim(value), first);
		if (rc != KB_OK)
			return rc;
	}
	return KB_OK;
}

/* Copy the next logical line of *p into line (BROKER_LINE_MAX bytes),
 * advancing *p and *lineno. KAFKA: a line ending in an odd number of
 * backslashes goes on with the next one, whose leading blanks are dropped;
 * a comment line never goes on (INVARIANT 2). INVARIANT 1: too long is an
 * error, not a cut. */
static int read_logical_line(const char **p, char *line, int *lineno,
			     struct broker_error *err)
{
	size_t len = 0;
	int first = *lineno + 1;
	for (;;) {
		const char *s = *p, *nl = strchrnul(s, '\n');
		(*lineno)++;
		while (s < nl && (*s == ' ' || *s == '\t' || *s == '\f'))
			s++;
		size_t n = (size_t)(nl - s);
		if (n > 0 && s[n - 1] == '\r')
			n--; /* a file written on Windows */
		if (len + n >= BROKER_LINE_MAX)
			return broker_refuse(err, "line %d: longer than %d bytes",
					     first, BROKER_LINE_MAX - 1);
		memcpy(line + len, s, n);
		len += n;
		*p = *nl ? nl + 1 : nl;
		if (!continues(line, len) || **p == '\0')
			break;
		len--; /* drop the backslash; the next line joins here */
	}
	line[len] = '\0';
	return KB_OK;
}

/* Does this line go on with the next? (odd trailing backslashes, and not
 * a comment) */
static bool continues(const char *line, size_t len)
{
	size_t bs = 0;
	while (bs < len && line[len - 1 - bs] == '\\')
		bs++;
	return bs % 2 == 1 && line[0] != '#' && line[0] != '!';
}

/* ---- Small helpers ---- */

/* Cut leading and trailing blanks in place; returns the new start. */
char *broker_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Fill err and return KB_ERR_INVAL, so callers can
 * `return broker_refuse(err, ...)`. */
int broker_refuse(struct broker_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	return KB_ERR_INVAL;
}
