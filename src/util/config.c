#include "config.h"
#include "cleanup.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

/* Keys berth knows, with their JSON type. Later subsystems add theirs here. */
static const struct {
	const char *key;
	json_type type;
} known_keys[] = {
	{"root", JSON_STRING},
	{"runroot", JSON_STRING},
	{"log-level", JSON_STRING},
	{"storage-driver", JSON_STRING},
	{"insecure-registries", JSON_ARRAY},
	{"registry-mirrors", JSON_ARRAY},
	{"max-concurrent-downloads", JSON_INTEGER},
	{"max-concurrent-uploads", JSON_INTEGER},
	{"default-network", JSON_STRING},
	{"networks", JSON_OBJECT},
	{"bridge", JSON_OBJECT},
	{"nft-prefix", JSON_STRING},
	{"registry", JSON_OBJECT},
};

static const char *type_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "?";
}

/* jansson does not keep positions of parsed values, so find the key's line by scanning
 * the text for its quoted name. Good enough to point a person at the right line. */
static int line_of_key(const char *text, const char *key)
{
	char needle[300];
	snprintf(needle, sizeof(needle), "\"%s\"", key);
	const char *p = strstr(text, needle);
	if (!p)
		return 0;
	int line = 1;
	for (const char *s = text; s < p; s++)
		if (*s == '\n')
			line++;
	return line;
}

int config_load(const char *path, int must_exist, json_t **ret, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist) {
			*ret = json_object();
			return 0;
		}
		return berr_errno(err, errno, "config '%s'", path);
	}
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	if (n < 0) {
		if (ferror(f))
			return berr_errno(err, EIO, "config '%s'", path);
		free(text);
		text = strdup("");
	}
	json_error_t je;
	_cleanup_json_ json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return berr_set(err, EINVAL, "config '%s': line %d: %s", path, je.line, je.text);
	if (!json_is_object(root))
		return berr_set(err, EINVAL, "config '%s': line 1: top level must be an object", path);
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val)
	{
		size_t i;
		for (i = 0; i < ARRAY_SIZE(known_keys); i++)
			if (streq(known_keys[i].key, key))
				break;
		if (i == ARRAY_SIZE(known_keys))
			return berr_set(err, EINVAL, "config '%s': line %d: unknown key '%s'", path,
					line_of_key(text, key), key);
		json_type t = json_typeof(val);
		if (t != known_keys[i].type &&
		    !(known_keys[i].type == JSON_INTEGER && t == JSON_REAL))
			return berr_set(err, EINVAL, "config '%s': line %d: '%s' must be %s", path,
					line_of_key(text, key), key, type_name(known_keys[i].type));
	}
	*ret = TAKE_PTR(root);
	return 0;
}

const char *config_get_string(json_t *cfg, const char *key, const char *def)
{
	json_t *v = cfg ? json_object_get(cfg, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : def;
}

long config_get_int(json_t *cfg, const char *key, long def)
{
	json_t *v = cfg ? json_object_get(cfg, key) : NULL;
	return json_is_integer(v) ? (long)json_integer_value(v) : def;
}
