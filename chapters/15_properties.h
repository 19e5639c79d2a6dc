/* SPDX-License-Identifier: MIT */
/*
 * Chapter 15 — properties: what 15_properties.c defines, for 15_meta.c
 * (meta.properties), 15_config.c (server.properties) and the tests.
 */
#ifndef SAMSA_PROPERTIES_H
#define SAMSA_PROPERTIES_H

#include "00_base.h"

/* An error message: "config/server.properties:12: unknown key 'x'". */
#define BROKER_ERR_MAX 768
/* A config key or value longer than this is an error, not truncated. */
#define BROKER_LINE_MAX 8192

/* Why a config could not be loaded, ready to print. */
struct broker_error {
	char msg[BROKER_ERR_MAX];
};

/* Called once per key/value pair with the line it starts on; non-KB_OK stops. */
typedef int (*broker_props_line_fn)(void *ctx, const char *key,
				    const char *value, int line);

/* Split Java properties text into pairs for fn; KB_ERR_INVAL (err) on a line too long. */
int broker_props_parse(const char *text, broker_props_line_fn fn, void *ctx,
		       struct broker_error *err);
/* Fill err from fmt and return KB_ERR_INVAL. */
int broker_refuse(struct broker_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Cut leading and trailing blanks in place; returns the new start. */
char *broker_trim(char *s);

#endif
