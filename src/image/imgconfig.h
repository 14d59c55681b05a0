/* Image configuration JSON: the "application/vnd.oci.image.config.v1+json" document that an
 * image id is the digest of (Docker writes the same document with more fields).
 *
 * Three jobs:
 *  - apply Dockerfile instructions that only change the runtime config (CMD, ENTRYPOINT, ENV,
 *    EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR) to the
 *    "config" object, with Dockerfile quoting and $VAR expansion. `import -c`, `commit -c` and
 *    the Dockerfile builder share this code;
 *  - build a fresh image config (import, commit): platform, created, rootfs, history;
 *  - read an untrusted image config (load, pull): type-check what berth relies on.
 *
 * The "config" object uses Docker's capitalised keys (Env, Cmd, ExposedPorts, ...), which is
 * also what the OCI image spec names them.
 */
#ifndef BERTH_IMAGE_IMGCONFIG_H
#define BERTH_IMAGE_IMGCONFIG_H

#include <jansson.h>
#include <stddef.h>
#include "err.h"
#include "strv.h"

/* The most bytes berth parses as one image config, manifest or index. Real ones are a few
 * kB; this only stops a hostile archive or registry from making us allocate without bound. */
#define IMGCONFIG_JSON_MAX ((size_t)16 << 20)

/* ---- Dockerfile instructions on the runtime config ---- */

/* Only what `docker commit --change` and `docker import --change` accept: CMD, ENTRYPOINT,
 * ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. */
#define IMGCONFIG_CHANGE 1

/* State carried across the instructions of one sequence (one --change list or one build
 * stage). Zero-initialise, then set config and flags. */
struct imgconfig_changer {
	json_t *config; /* borrowed: the image's "config" object, changed in place */
	int flags;      /* IMGCONFIG_CHANGE or 0 */
	/* Extra variables for $VAR expansion ("K=V" strings, borrowed, may be NULL): the
	 * builder's ARG values. The config's Env wins over them, as in a Dockerfile. */
	char *const *build_args;
	int cmd_set; /* a CMD was applied: a later ENTRYPOINT keeps Cmd (Dockerfile rule) */
};

/* Apply one instruction, keyword in any case ("env", "ENV"), rest being the text after the
 * keyword with line continuations already joined. Errors (-EINVAL) read like Docker's:
 * "ENV must have two arguments", "Invalid containerPort: x",
 * "run is not a valid change command" (with IMGCONFIG_CHANGE),
 * "unknown instruction: FOO". Without IMGCONFIG_CHANGE, instructions that are not about the
 * config (FROM, RUN, COPY, ADD, ARG, MAINTAINER) give -EOPNOTSUPP: the builder runs them. */
int imgconfig_apply_instruction(struct imgconfig_changer *c, const char *keyword,
				const char *rest, struct berr **err);

/* Apply a list of change strings, read as the lines of one Dockerfile (each string may hold
 * several lines; "\" at a line end continues it; blank lines and "#" comments are skipped).
 * Errors name the line: "dockerfile parse error on line 2: unknown instruction: FOO".
 * No instruction at all: -EINVAL "file with no instructions". */
int imgconfig_apply_changes(json_t *config, char *const *changes, size_t n, int flags,
			    struct berr **err);

/* Split the arguments of ENV/LABEL into words the way Docker's parser does: at unquoted
 * white space, keeping quotes and escapes in the words for the expansion step. */
int imgconfig_split_words(const char *rest, struct strv *ret);

/* Process one word like a Dockerfile: quotes removed, "\" escapes, $VAR, ${VAR},
 * ${VAR:-word}, ${VAR:+word}, ${VAR:?msg} expanded from env ("K=V" strings, later entries
 * win; NULL for none). The result is the caller's. Errors: -EINVAL, e.g.
 * "failed to process \"${B\": missing ':' in substitution". */
int imgconfig_expand_word(const char *word, char *const *env, size_t nenv, char **ret,
			  struct berr **err);

/* ---- building a config ---- */

/* A new image config owned by the caller (NULL on ENOMEM):
 * {"architecture","os",["variant"],"created",["comment"],"config":{},
 *  "rootfs":{"type":"layers","diff_ids":[]},"history":[]}. */
json_t *imgconfig_new(const char *os, const char *arch, const char *variant, const char *created,
		      const char *comment);
/* Append a diff_id to rootfs.diff_ids. 0, -EINVAL (no rootfs) or -ENOMEM. */
int imgconfig_add_diff_id(json_t *img, const char *diff_id);
/* Append a history entry; NULL strings are left out, empty_layer is written only when set. */
int imgconfig_add_history(json_t *img, const char *created, const char *created_by,
			  const char *comment, int empty_layer);

/* The current time as RFC 3339 in UTC with nanoseconds, trailing zeros dropped (Go's
 * time.RFC3339Nano, which Docker writes). Owned by the caller; NULL on ENOMEM. */
char *imgconfig_now(void);

/* ---- platforms ---- */

/* Parse "os[/arch[/variant]]" and normalise it as containerd does (x86_64 -> amd64,
 * aarch64 -> arm64, arm64/v8 -> arm64, armhf -> arm/v7, arm -> arm/v7). A missing arch is the
 * host's. The strings are the caller's; variant may be NULL. -EINVAL on a malformed string or
 * an os other than linux. */
int imgconfig_platform_parse(const char *s, char **ret_os, char **ret_arch, char **ret_variant,
			     struct berr **err);
/* The architecture berth runs on, GOARCH style ("amd64", "arm64", ...). Static string. */
const char *imgconfig_host_arch(void);

/* ---- reading a config ---- */

struct imgconfig_info {
	char *os;           /* NULL when absent */
	char *architecture; /* NULL when absent */
	char *variant;      /* NULL when absent */
	char *created;      /* NULL when absent */
	struct strv diff_ids;
};

/* Parse an untrusted image config of at most IMGCONFIG_JSON_MAX bytes. It must be an object
 * whose rootfs is {"type":"layers","diff_ids":[valid digests]}; os, architecture, variant,
 * created must be strings when present, config an object or null, history an array of
 * objects. ret_json (may be NULL) receives the parsed document; ret the fields. -EINVAL with
 * a message naming the field on anything else. */
int imgconfig_parse(const char *data, size_t len, json_t **ret_json, struct imgconfig_info *ret,
		    struct berr **err);
void imgconfig_info_free(struct imgconfig_info *info);

#endif
