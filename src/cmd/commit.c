/* commit (container commit): a container's changes become a new image (image_commit() in
 * src/image/commit.h does the work). This file finds the container, freezes a running one
 * for the time of the commit as Docker pauses it (-p, on by default), and prints the id.
 *
 * The freeze is recorded as "paused" in the container's state, as Docker shows a container
 * being committed: a commit killed while the container is frozen leaves it visibly paused,
 * and `berth unpause` thaws it. A container the user paused is committed as it is and stays
 * paused. */
#include <jansson.h>

#include "cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "cleanup.h"
#include "commit.h"
#include "ctr.h"
#include "ctrfs.h"
#include "lazy.h"
#include "ref.h"
#include "state.h"
#include "store.h"

#include "banned.h"

LAZY_LIB(crypto);
LAZY_LIB(isal);
LAZY_LIB(archive);

static const struct cmd_help commit_help = {
    .usage = "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    .summary = "Create a new image from a container's changes",
    .aliases = "berth container commit, berth commit",
};

/* What the freeze and the thaw share: the container's directory and its cgroup, opened
 * once (the cgroup's lookup reads the mount table and stats every hierarchy). */
struct pause {
	int dirfd;
	struct rt_cgroup *cg;
};

static void pause_close(struct pause *p)
{
	if (p->cg)
		rt_cgroup_free(p->cg);
	if (p->dirfd >= 0)
		close(p->dirfd);
}

/* Freeze (1) or thaw (0) c's cgroup and record it in its state, under the container's
 * lock as pause does. Freezing only applies to a running container: *ret_done (freeze
 * only) says whether it was frozen here. Thawing only undoes a "paused" that is still
 * recorded (an `unpause` meanwhile did it already). */
static int set_frozen(const char *root, const struct ctr *c, const struct rt_spec *spec,
		      struct pause *p, int freeze, int *ret_done, struct berr **err)
{
	int r = 0;
	if (p->dirfd < 0 && (r = rt_container_dir_open(root, c->id, &p->dirfd, err)) < 0)
		return r;
	if ((r = rt_state_lock(p->dirfd, 1, err)) < 0)
		return r;
	struct rt_state st;
	if ((r = rt_state_load(p->dirfd, &st, err)) < 0)
		goto out;
	rt_state_reconcile(&st);
	if (st.status != (freeze ? RT_STATUS_RUNNING : RT_STATUS_PAUSED))
		goto out;
	if (!p->cg)
		r = rt_cgroup_open(spec->cgroup_parent ? spec->cgroup_parent : "berth", c->id,
				   &p->cg, err);
	if (r == 0)
		r = rt_cgroup_freeze(p->cg, freeze, err);
	if (r < 0)
		goto out;
	st.status = freeze ? RT_STATUS_PAUSED : RT_STATUS_RUNNING;
	/* Not synced: a freeze does not outlive the machine, and the state carries the boot
	 * id. Two fsyncs less on each side of the commit. */
	if ((r = rt_state_write_nosync(p->dirfd, &st, err)) < 0) {
		/* Unrecorded, the freeze must not stay. */
		struct berr *e = NULL;
		if (freeze)
			rt_cgroup_freeze(p->cg, 0, &e);
		berr_free(e);
		goto out;
	}
	if (ret_done)
		*ret_done = 1;
out:
	rt_state_unlock(p->dirfd);
	return r;
}

/* Docker's "created_by" of a commit: the container's Cmd joined with spaces. */
static char *created_by(json_t *config)
{
	json_t *cmd = json_object_get(config, "Cmd");
	_cleanup_buf_ struct buf b = BUF_INIT;
	size_t i;
	json_t *v;
	buf_puts(&b, "");
	json_array_foreach(cmd, i, v)
	{
		if (json_is_string(v))
			buf_printf(&b, "%s%s", i ? " " : "", json_string_value(v));
	}
	return b.data ? strdup(b.data) : NULL;
}

int cmd_commit(struct berth_ctx *ctx, int argc, char **argv)
{
	const char *author = NULL, *message = NULL;
	int pause = 1;
	_cleanup_strv_ struct strv changes = STRV_INIT;
	const struct opt opts[] = {
	    {OPT_STRING, 'a', "author", &author, "string",
	     "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"},
	    {OPT_LIST, 'c', "change", &changes, "list",
	     "Apply Dockerfile instruction to the created image"},
	    {OPT_STRING, 'm', "message", &message, "string", "Commit message"},
	    {OPT_BOOL, 'p', "pause", &pause, NULL, "Pause container during commit (default true)"},
	    {0},
	};
	int first, rc;
	if (cmd_parse(ctx, &commit_help, opts, 0, argc, argv, &first, &rc) < 0)
		return rc;
	if (cmd_check_args(ctx, &commit_help, argc - first, 1, 2) < 0)
		return 1;
	const char *input = argv[first], *target = argc - first > 1 ? argv[first + 1] : NULL;

	/* Hashing, compression and the layer's tar: loaded while the container is looked up,
	 * its root cloned and the container frozen. */
	struct berth_lazy *const libs[] = {&berth_lazy_crypto, &berth_lazy_isal,
					   &berth_lazy_archive};
	berth_lazy_preload(libs, sizeof(libs) / sizeof(libs[0]));

	_cleanup_berr_ struct berr *err = NULL;
	_cleanup_free_ char *name = NULL;
	if (target) {
		/* Checked by docker's CLI, before anything else: no "Error" prefix. */
		_cleanup_(ref_free) struct ref ref = {0};
		if (ref_parse(target, 0, &ref, &err) < 0) {
			fprintf(stderr, "%s\n", err->msg);
			return 1;
		}
		if (ref.digest) {
			fprintf(stderr,
				"Error response from daemon: refusing to create a tag with a "
				"digest reference\n");
			return 1;
		}
		if (!(name = ref_string(&ref))) {
			cmd_errorf(ctx, "out of memory");
			return EXIT_ENGINE;
		}
	}

	struct ctr c;
	if (ctr_lookup(ctx->root, input, &c, &err) < 0) {
		fprintf(stderr, "Error response from daemon: %s\n", err->msg);
		return 1;
	}
	json_t *config = json_object_get(c.config, "Config");
	json_t *image = json_object_get(c.config, "Image");
	_cleanup_free_ char *cmdline = created_by(config);
	struct commit_opts o = {
	    .base_id = json_is_string(image) ? json_string_value(image) : NULL,
	    .upperfd = -1,
	    .config = json_is_object(config) ? config : NULL,
	    .changes = changes.v,
	    .nchanges = changes.n,
	    .author = author,
	    .message = message,
	    .created_by = cmdline,
	    .container_id = c.id,
	    .name = name,
	};
	_cleanup_free_ char *id = NULL;
	_cleanup_store_ struct store *s = NULL;
	struct ctrfs fs = CTRFS_INIT;
	int r = image_commit_check(&o, &err);
	if (r == 0)
		r = ctrfs_open(&c, &fs, &err);
	if (r == 0)
		r = store_open(ctx->root, &s, &err);

	/* Frozen, the container can not change its files while they are read. Signals that
	 * would end berth wait until it is thawed again: the window leaves no frozen container
	 * behind but for SIGKILL. */
	int frozen = 0, freeze = r == 0 && pause && c.state.status == RT_STATUS_RUNNING;
	struct pause p = {.dirfd = -1};
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	if (freeze) {
		sigprocmask(SIG_BLOCK, &block, &old);
		r = set_frozen(ctx->root, &c, &fs.spec, &p, 1, &frozen, &err);
	}
	if (r == 0) {
		o.upperfd = fs.upperfd;
		r = image_commit(s, &o, &id, &err);
	}
	if (frozen) {
		struct berr *e = NULL;
		int r2 = set_frozen(ctx->root, &c, &fs.spec, &p, 0, NULL, &e);
		if (r2 < 0 && r == 0) {
			r = r2;
			err = e;
			e = NULL;
		}
		berr_free(e);
	}
	if (freeze)
		sigprocmask(SIG_SETMASK, &old, NULL);
	pause_close(&p);
	ctrfs_close(&fs);
	ctr_free(&c);
	if (r < 0) {
		fprintf(stderr, "Error response from daemon: %s\n",
			err ? err->msg : "unknown error");
		return 1;
	}
	printf("%s\n", id);
	return 0;
}
