/* berth's one configuration file, /etc/berth/config.json by default (--config elsewhere).
 * Every command reads it. Keys are checked against a table (config.c); an unknown key or bad
 * JSON is an error that names the file and the line. */
#ifndef BERTH_UTIL_CONFIG_H
#define BERTH_UTIL_CONFIG_H

#include <jansson.h>
#include "err.h"

#define CONFIG_DEFAULT_PATH "/etc/berth/config.json"

/* Load path into a new JSON object (owned by the caller). When the file is missing and
 * must_exist is 0, the result is an empty object. */
int config_load(const char *path, int must_exist, json_t **ret, struct berr **err);

/* Typed getters; return def when the key is missing. */
const char *config_get_string(json_t *cfg, const char *key, const char *def);
long config_get_int(json_t *cfg, const char *key, long def);

#endif
