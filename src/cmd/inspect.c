/* inspect and image inspect: docker's ImageInspect document, built from the image record,
 * its references and its config blob, printed as docker's CLI prints it (an indented
 * JSON array, compact with --format json, or a Go template per object). */
#include "cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "buf.h"
#include "ctr.h"
#include "format.h"
#include "imagecmd.h"
#include "store.h"

#include "banned.h"

/* Docker's exit status for a --format that does not parse. */
#define EXIT_TEMPLATE 64

static const char *const zero_time = "0001-01-01T00:00:00Z";

/* ---- copying the config with docker's types (untrusted JSON: every type checked) ---- */

static const char *str_or(json_t *obj, const char *key, const char *def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

static json_t *bool_of(json_t *obj, const char *key)
{
	return json_boolean(json_is_true(json_object_get(obj, key)));
}

/* []string: an array of strings, else null. */
static json_t *strings_of(json_t *v)
{
	if (!json_is_array(v))
		return json_null();
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return json_null();
	}
	return json_deep_copy(v);
}

/* strslice.StrSlice: also accepts one string for a one-element list. */
static json_t *strslice_of(json_t *v)
{
	if (json_is_string(v))
		return json_pack("[O]", v);
	return strings_of(v);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A Go map: keys sorted as encoding/json writes them. values_empty: map[string]struct{}
 * (every value becomes {}); otherwise map[string]string (non-string values dropped).
 * null when v is not an object. */
static json_t *map_of(json_t *v, int values_empty)
{
	if (!json_is_object(v))
		return json_null();
	size_t n = json_object_size(v);
	_cleanup_free_ const char **keys = calloc(n + 1, sizeof(*keys));
	json_t *out = json_object();
	if (!keys || !out) {
		json_decref(out);
		return NULL;
	}
	size_t k = 0;
	const char *key;
	json_t *val;
	json_object_foreach(v, key, val) {
		if (values_empty || json_is_string(val))
			keys[k++] = key;
	}
	qsort(keys, k, sizeof(*keys), cmp_key);
	for (size_t i = 0; i < k; i++) {
		json_t *nv = values_empty ? json_object() : json_incref(json_object_get(v, keys[i]));
		if (json_object_set_new(out, keys[i], nv) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static int set(json_t *obj, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

static json_t *healthcheck_of(json_t *h)
{
	json_t *out = json_object();
	if (!out)
		return NULL;
	json_t *test = json_object_get(h, "Test");
	int r = 0;
	if (json_is_array(test) && json_array_size(test) > 0) {
		json_t *t = strings_of(test);
		if (!json_is_null(t))
			r = set(out, "Test", t);
		else
			json_decref(t);
	}
	static const char *const ints[] = {"Interval", "Timeout", "StartPeriod", "StartInterval",
					   "Retries"};
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(ints); i++) {
		json_t *v = json_object_get(h, ints[i]);
		if (json_is_integer(v) && json_integer_value(v) != 0)
			r = set(out, ints[i], json_integer(json_integer_value(v)));
	}
	if (r < 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* container.Config in docker's field order; omitempty fields only when set. */
static json_t *config_of(json_t *c)
{
	if (!json_is_object(c))
		return json_null();
	json_t *o = json_object();
	if (!o)
		return NULL;
	int r = 0;
	r |= set(o, "Hostname", json_string(str_or(c, "Hostname", "")));
	r |= set(o, "Domainname", json_string(str_or(c, "Domainname", "")));
	r |= set(o, "User", json_string(str_or(c, "User", "")));
	r |= set(o, "AttachStdin", bool_of(c, "AttachStdin"));
	r |= set(o, "AttachStdout", bool_of(c, "AttachStdout"));
	r |= set(o, "AttachStderr", bool_of(c, "AttachStderr"));
	json_t *ports = json_object_get(c, "ExposedPorts");
	if (json_is_object(ports) && json_object_size(ports) > 0)
		r |= set(o, "ExposedPorts", map_of(ports, 1));
	r |= set(o, "Tty", bool_of(c, "Tty"));
	r |= set(o, "OpenStdin", bool_of(c, "OpenStdin"));
	r |= set(o, "StdinOnce", bool_of(c, "StdinOnce"));
	r |= set(o, "Env", strings_of(json_object_get(c, "Env")));
	r |= set(o, "Cmd", strslice_of(json_object_get(c, "Cmd")));
	json_t *hc = json_object_get(c, "Healthcheck");
	if (json_is_object(hc))
		r |= set(o, "Healthcheck", healthcheck_of(hc));
	if (json_is_true(json_object_get(c, "ArgsEscaped")))
		r |= set(o, "ArgsEscaped", json_true());
	r |= set(o, "Image", json_string(str_or(c, "Image", "")));
	r |= set(o, "Volumes", map_of(json_object_get(c, "Volumes"), 1));
	r |= set(o, "WorkingDir", json_string(str_or(c, "WorkingDir", "")));
	r |= set(o, "Entrypoint", strslice_of(json_object_get(c, "Entrypoint")));
	if (json_is_true(json_object_get(c, "NetworkDisabled")))
		r |= set(o, "NetworkDisabled", json_true());
	if (*str_or(c, "MacAddress", ""))
		r |= set(o, "MacAddress", json_string(str_or(c, "MacAddress", "")));
	r |= set(o, "OnBuild", strings_of(json_object_get(c, "OnBuild")));
	r |= set(o, "Labels", map_of(json_object_get(c, "Labels"), 0));
	if (*str_or(c, "StopSignal", ""))
		r |= set(o, "StopSignal", json_string(str_or(c, "StopSignal", "")));
	json_t *st = json_object_get(c, "StopTimeout");
	if (json_is_integer(st))
		r |= set(o, "StopTimeout", json_integer(json_integer_value(st)));
	json_t *shell = strslice_of(json_object_get(c, "Shell"));
	if (shell && !json_is_null(shell) && json_array_size(shell) > 0)
		r |= set(o, "Shell", shell);
	else
		json_decref(shell);
	if (r) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* GraphDriver.Data as overlay sees the image: the top layer's directory as UpperDir, the
 * ones below (nearest first, overlayfs lowerdir order) as LowerDir. */
static json_t *graph_data(struct store *s, const struct store_image *img)
{
	if (img->nlayers == 0)
		return json_null();
	_cleanup_free_ char *upper = store_layer_dir(s, img->layers[img->nlayers - 1].chain_id);
	_cleanup_buf_ struct buf lower = BUF_INIT;
	for (size_t i = img->nlayers - 1; i-- > 0;) {
		_cleanup_free_ char *dir = store_layer_dir(s, img->layers[i].chain_id);
		if (!dir || buf_printf(&lower, "%s%s", lower.len ? ":" : "", dir) < 0)
			return NULL;
	}
	if (!upper)
		return NULL;
	json_t *d = json_object();
	if (!d)
		return NULL;
	int r = 0;
	if (lower.len)
		r |= set(d, "LowerDir", json_string(lower.data));
	r |= set(d, "UpperDir", json_string(upper));
	if (r) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* The ImageInspect object of one image. */
static int inspect_image(struct store *s, const struct imgcmd_snap *snap,
			 const struct store_image *img, json_t **ret, struct berr **err)
{
	_cleanup_json_ json_t *cfg = NULL;
	int r = imgcmd_read_config(s, img->id, &cfg, err);
	if (r < 0)
		return r;

	_cleanup_json_ json_t *o = json_object();
	json_t *tags = json_array(), *digests = json_array(), *layers = json_array();
	if (!o || set(o, "Id", json_string(img->id)) < 0 || set(o, "RepoTags", tags) < 0 ||
	    set(o, "RepoDigests", digests) < 0) {
		json_decref(layers);
		return berr_set(err, ENOMEM, "out of memory");
	}
	size_t first, n = imgcmd_snap_refs_of(snap, img->id, &first);
	for (size_t i = first; i < first + n; i++) {
		const struct imgcmd_ref *x = &snap->xrefs[snap->by_id[i]];
		if (json_array_append_new(x->canonical ? digests : tags,
					  json_string(x->familiar)) < 0) {
			json_decref(layers);
			return berr_set(err, ENOMEM, "out of memory");
		}
	}
	const char *created = str_or(cfg, "created", zero_time);
	const char *variant = str_or(cfg, "variant", "");
	int e = 0;
	e |= set(o, "Parent", json_string(img->parent ? img->parent : ""));
	e |= set(o, "Comment", json_string(str_or(cfg, "comment", "")));
	e |= set(o, "Created", json_string(created));
	e |= set(o, "DockerVersion", json_string(str_or(cfg, "docker_version", "")));
	e |= set(o, "Author", json_string(str_or(cfg, "author", "")));
	e |= set(o, "Config", config_of(json_object_get(cfg, "config")));
	e |= set(o, "Architecture", json_string(str_or(cfg, "architecture", "")));
	if (*variant)
		e |= set(o, "Variant", json_string(variant));
	e |= set(o, "Os", json_string(str_or(cfg, "os", "")));
	e |= set(o, "Size", json_integer((json_int_t)img->size));
	if (img->size)
		e |= set(o, "VirtualSize", json_integer((json_int_t)img->size));
	json_t *gd = json_object();
	e |= set(o, "GraphDriver", gd);
	if (gd) {
		e |= set(gd, "Data", graph_data(s, img));
		e |= set(gd, "Name", json_string("overlay"));
	}
	json_t *rootfs = json_object();
	e |= set(o, "RootFS", rootfs);
	if (rootfs) {
		e |= set(rootfs, "Type",
			 json_string(str_or(json_object_get(cfg, "rootfs"), "type", "layers")));
		for (size_t i = 0; layers && i < img->nlayers; i++)
			if (img->layers[i].diff_id)
				e |= json_array_append_new(layers, json_string(img->layers[i].diff_id));
		if (img->nlayers)
			e |= set(rootfs, "Layers", json_incref(layers));
	}
	json_decref(layers);
	json_t *meta = json_object();
	e |= set(o, "Metadata", meta);
	if (meta)
		e |= set(meta, "LastTagTime",
			 json_string(img->last_tag_time ? img->last_tag_time : zero_time));
	if (e)
		return berr_set(err, ENOMEM, "out of memory");
	*ret = TAKE_PTR(o);
	return 0;
}

enum inspect_kind {
	KIND_ANY,   /* plain inspect: containers first, then images */
	KIND_IMAGE, /* image inspect, inspect --type image */
	KIND_CONTAINER, /* container inspect, inspect --type container */
	KIND_OTHER, /* a type berth has no objects of (yet) */
};

static const struct cmd_help inspect_help = {
	.usage = "berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
	.summary = "Return low-level information on berth objects",
};

static const struct cmd_help image_inspect_help = {
	.usage = "berth image inspect [OPTIONS] IMAGE [IMAGE...]",
	.summary = "Display detailed information on one or more images",
};

static int run_inspect(struct berth_ctx *ctx, enum inspect_kind kind, const char *type,
		       const char *format, int size, int nnames, char **names)
{
	_cleanup_berr_ struct berr *err = NULL;
	struct fmt_template *tpl = NULL;
	int json_compact = format && streq(format, "json");
	if (format && *format && !json_compact &&
	    fmt_template_parse(format, &tpl, &err) < 0) {
		fprintf(stderr, "template parsing error: %s\n", err->msg);
		return EXIT_TEMPLATE;
	}

	_cleanup_store_ struct store *s = NULL;
	_cleanup_(imgcmd_snap_free) struct imgcmd_snap snap = {0};
	if (store_open(ctx->root, &s, &err) < 0 || store_lock_meta(s, 0, &err) < 0 ||
	    imgcmd_snap_load(s, &snap, &err) < 0) {
		fmt_template_free(tpl);
		cmd_error(ctx, err);
		return EXIT_ENGINE;
	}

	_cleanup_json_ json_t *found = json_array();
	_cleanup_buf_ struct buf errors = BUF_INIT;
	_cleanup_buf_ struct buf rendered = BUF_INIT;
	int rc = 0;
	for (int i = 0; i < nnames && found; i++) {
		const char *name = names[i];
		if (kind == KIND_OTHER) {
			buf_printf(&errors, "Error: No such %s: %s\n", type, name);
			continue;
		}
		/* Plain inspect looks a name up as a container first and only then as an
		 * image; --type container only as a container (ctr.h). */
		_cleanup_json_ json_t *obj = NULL;
		int r = -ENOENT;
		if (kind == KIND_ANY || kind == KIND_CONTAINER) {
			struct ctr c;
			r = ctr_lookup(ctx->root, name, &c, &err);
			if (r == 0) {
				r = ctr_inspect(ctx->root, &c, size, &obj, &err);
				ctr_free(&c);
			}
			if (r == -ENOENT)
				berr_freep(&err);
			if (r == -ENOENT && kind == KIND_CONTAINER) {
				buf_printf(&errors, "Error: No such container: %s\n", name);
				continue;
			}
		}
		if (r == -ENOENT) {
			_cleanup_free_ char *id = NULL;
			r = store_image_resolve(s, name, &id, &err);
			const struct store_image *img = r == 0 ? imgcmd_snap_image(&snap, id) : NULL;
			if (!img && (r == 0 || r == -ENOENT)) {
				buf_printf(&errors, "Error: No such %s: %s\n",
					   kind == KIND_ANY ? "object" : "image", name);
				berr_freep(&err);
				continue;
			}
			if (r == 0)
				r = inspect_image(s, &snap, img, &obj, &err);
			if (r == 0 && size)
				fprintf(stderr, "WARNING: --size ignored for image\n");
		}
		if (r < 0) {
			buf_printf(&errors, "Error: %s\n", err->msg);
			berr_freep(&err);
			if (r != -EINVAL)
				rc = EXIT_ENGINE;
			continue;
		}
		if (tpl) {
			if (fmt_template_render(tpl, obj, &rendered, &err) < 0) {
				buf_printf(&errors, "template parsing error: %s\n", err->msg);
				berr_freep(&err);
				continue;
			}
			buf_putc(&rendered, '\n');
		}
		json_array_append(found, obj);
	}
	store_unlock_meta(s);
	fmt_template_free(tpl);
	if (!found) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}

	if (tpl) {
		/* Nothing rendered still prints an empty line, as docker does. */
		fputs(rendered.len ? rendered.data : "\n", stdout);
	} else if (json_array_size(found) == 0) {
		fputs("[]\n", stdout);
	} else if (imgcmd_print_json(stdout, found, json_compact ? JSON_COMPACT : JSON_INDENT(4)) <
		   0) {
		cmd_errorf(ctx, "out of memory");
		return EXIT_ENGINE;
	}
	fflush(stdout);
	if (errors.len) {
		fputs(errors.data, stderr);
		return rc ? rc : 1;
	}
	return 0;
}

int cmd_inspect(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *format = NULL, *type = NULL;
	int size = 0;
	const struct opt opts[] = {
		{OPT_STRING, 'f', "format", &format, "string",
		 "Format output: 'json' or a Go template"},
		{OPT_BOOL, 's', "size", &size, NULL,
		 "Display total file sizes if the type is container"},
		{OPT_STRING, 0, "type", &type, "string", "Return JSON for specified type"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &inspect_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &inspect_help, argc - first, 1, -1) < 0)
		return 1;

	static const char *const types[] = {"container", "image", "node", "network", "service",
					    "volume", "task", "plugin", "secret"};
	enum inspect_kind kind = KIND_ANY;
	if (type && *type) {
		int known = 0;
		for (size_t i = 0; i < ARRAY_SIZE(types); i++)
			if (streq(type, types[i]))
				known = 1;
		if (!known) {
			fprintf(stderr, "\"%s\" is not a valid value for --type\n", type);
			return 1;
		}
		kind = streq(type, "image")	  ? KIND_IMAGE
		       : streq(type, "container") ? KIND_CONTAINER
						  : KIND_OTHER;
	}
	return run_inspect(ctx, kind, type, format, size, argc - first, argv + first);
}

int cmd_image_inspect(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *format = NULL;
	const struct opt opts[] = {
		{OPT_STRING, 'f', "format", &format, "string",
		 "Format output: 'json' or a Go template"},
		{0},
	};
	int first, rc;
	if (cmd_parse(ctx, &image_inspect_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &image_inspect_help, argc - first, 1, -1) < 0)
		return 1;
	return run_inspect(ctx, KIND_IMAGE, "image", format, 0, argc - first, argv + first);
}
