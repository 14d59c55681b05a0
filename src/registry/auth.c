#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fs.h"
#include "strv.h"

#include "banned.h"

/* Tokens longer than this are refused before any parsing. */
#define TOKEN_MAX 16384
#define ACCESS_MAX 64
/* Leeway for clocks that disagree a little (not-before). */
#define CLOCK_SKEW 60
/* How long a checked Basic password is remembered. */
#define HTPASSWD_CACHE_TTL 300
#define HTPASSWD_CACHE_SLOTS 256

static void fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
}

/* ---- actions and scopes ---- */

static const struct {
	const char *word;
	unsigned bit;
} action_words[] = {
    {"pull", REGSRV_ACT_PULL},
    {"push", REGSRV_ACT_PUSH},
    {"delete", REGSRV_ACT_DELETE},
};

unsigned regsrv_actions_parse(const char *s, size_t len)
{
	unsigned a = 0;
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		size_t wl = j - i;
		if (wl == 1 && s[i] == '*')
			a |= REGSRV_ACT_ALL;
		for (size_t k = 0; k < ARRAY_SIZE(action_words); k++)
			if (strlen(action_words[k].word) == wl &&
			    memcmp(action_words[k].word, s + i, wl) == 0)
				a |= action_words[k].bit;
		i = j + 1;
	}
	return a;
}

void regsrv_actions_format(unsigned actions, char *buf, size_t size)
{
	size_t n = 0;
	if (size)
		buf[0] = '\0';
	for (size_t k = 0; k < ARRAY_SIZE(action_words); k++) {
		if (!(actions & action_words[k].bit))
			continue;
		int w = snprintf(buf + n, size - n, "%s%s", n ? "," : "", action_words[k].word);
		if (w < 0 || (size_t)w >= size - n)
			return;
		n += (size_t)w;
	}
}

int regsrv_scope_parse(const char *s, struct regsrv_scope *ret)
{
	memset(ret, 0, sizeof(*ret));
	const char *c1 = strchr(s, ':');
	const char *c2 = strrchr(s, ':');
	if (!c1 || c1 == c2)
		return -EINVAL;
	size_t tlen = (size_t)(c1 - s);
	const char *paren = memchr(s, '(', tlen);
	if (paren) {
		if (s[tlen - 1] != ')')
			return -EINVAL;
		tlen = (size_t)(paren - s);
	}
	if (tlen == 0 || tlen >= sizeof(ret->type))
		return -EINVAL;
	memcpy(ret->type, s, tlen);
	size_t nlen = (size_t)(c2 - c1 - 1);
	if (nlen == 0 || nlen > REGSRV_NAME_MAX)
		return -EINVAL;
	memcpy(ret->name, c1 + 1, nlen);
	ret->actions = regsrv_actions_parse(c2 + 1, strlen(c2 + 1));
	if (streq(ret->type, "repository"))
		return regsrv_name_valid(ret->name) ? 0 : -EINVAL;
	if (streq(ret->type, "registry") && streq(ret->name, "catalog")) {
		/* The catalog's only action is "*"; keep it as "all". */
		if (strcmp(c2 + 1, "*") == 0)
			ret->actions = REGSRV_ACT_ALL;
		return 0;
	}
	return -EINVAL;
}

/* ---- base64 ---- */

char *regsrv_b64url_encode(const void *data, size_t len)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = data;
	char *out = malloc(len / 3 * 4 + 5);
	if (!out)
		return NULL;
	size_t o = 0, i = 0;
	for (; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Both alphabets (standard for Basic, url-safe for JWS); padding optional. */
static int b64_decode_any(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -EINVAL;
	unsigned char *out = malloc(len / 4 * 3 + 4);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* The bits left over must be zero: otherwise several strings would decode to one
	 * value, and a changed token would still verify. */
	if (bits && (acc & ((1u << bits) - 1))) {
		free(out);
		return -EINVAL;
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
}

int regsrv_b64url_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	return b64_decode_any(s, len, ret, ret_len);
}

int regsrv_basic_decode(const char *h, char **ret_user, char **ret_password)
{
	if (!h || strncasecmp(h, "Basic ", 6) != 0)
		return -EINVAL;
	h += 6;
	while (*h == ' ')
		h++;
	size_t len = strnlen(h, 4096);
	if (len == 0 || len >= 4096)
		return -EINVAL;
	unsigned char *raw;
	size_t n;
	if (b64_decode_any(h, len, &raw, &n) < 0)
		return -EINVAL;
	char *colon = memchr(raw, ':', n);
	if (!colon || memchr(raw, '\0', n)) {
		free(raw);
		return -EINVAL;
	}
	*colon = '\0';
	char *user = strdup((char *)raw);
	char *pass = strdup(colon + 1);
	free(raw);
	if (!user || !pass) {
		free(user);
		free(pass);
		return -ENOMEM;
	}
	*ret_user = user;
	*ret_password = pass;
	return 0;
}

/* ---- htpasswd ---- */

struct htpasswd_entry {
	char *user;
	char *hash;
};

struct cache_slot {
	unsigned char key[32];
	time_t expires;
};

struct regsrv_htpasswd {
	struct htpasswd_entry *e;
	size_t n;
	unsigned char secret[32];
	pthread_mutex_t lock;
	struct cache_slot cache[HTPASSWD_CACHE_SLOTS];
};

void regsrv_htpasswd_free(struct regsrv_htpasswd *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->e[i].user);
		OPENSSL_cleanse(h->e[i].hash, strlen(h->e[i].hash));
		free(h->e[i].hash);
	}
	free(h->e);
	pthread_mutex_destroy(&h->lock);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

int regsrv_htpasswd_load(const char *path, struct regsrv_htpasswd **ret, struct berr **err)
{
	_cleanup_free_ char *text = NULL;
	int r = fs_read_all_at(AT_FDCWD, path, 4u << 20, &text, NULL);
	if (r < 0)
		return berr_errno(err, -r, "read htpasswd file '%s'", path);
	struct regsrv_htpasswd *h = calloc(1, sizeof(*h));
	if (!h)
		return berr_set(err, ENOMEM, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	fill_random(h->secret, sizeof(h->secret));
	int line = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		size_t len = strlen(l);
		while (len && (l[len - 1] == '\r' || l[len - 1] == ' ' || l[len - 1] == '\t'))
			l[--len] = '\0';
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l || *l == '#')
			continue;
		char *colon = strchr(l, ':');
		if (!colon || colon == l) {
			regsrv_htpasswd_free(h);
			return berr_set(err, EINVAL, "htpasswd file '%s': line %d: not user:hash",
					path, line);
		}
		*colon = '\0';
		const char *hash = colon + 1;
		if (strncmp(hash, "$2a$", 4) != 0 && strncmp(hash, "$2b$", 4) != 0 &&
		    strncmp(hash, "$2y$", 4) != 0) {
			regsrv_htpasswd_free(h);
			return berr_set(err, EINVAL,
					"htpasswd file '%s': line %d: only bcrypt entries are "
					"supported (htpasswd -B)",
					path, line);
		}
		struct htpasswd_entry *ne = realloc(h->e, (h->n + 1) * sizeof(*ne));
		if (!ne) {
			regsrv_htpasswd_free(h);
			return berr_set(err, ENOMEM, "out of memory");
		}
		h->e = ne;
		h->e[h->n].user = strdup(l);
		h->e[h->n].hash = strdup(hash);
		h->n++;
		if (!h->e[h->n - 1].user || !h->e[h->n - 1].hash) {
			regsrv_htpasswd_free(h);
			return berr_set(err, ENOMEM, "out of memory");
		}
	}
	OPENSSL_cleanse(text, strlen(text));
	*ret = h;
	return 0;
}

int regsrv_htpasswd_has_user(const struct regsrv_htpasswd *h, const char *user)
{
	for (size_t i = 0; i < h->n; i++)
		if (streq(h->e[i].user, user))
			return 1;
	return 0;
}

int regsrv_htpasswd_check(struct regsrv_htpasswd *h, const char *user, const char *password)
{
	const struct htpasswd_entry *e = NULL;
	for (size_t i = 0; i < h->n; i++)
		if (streq(h->e[i].user, user)) {
			e = &h->e[i];
			break;
		}
	if (!e)
		return 0;

	/* The cache key covers the user, the password and the stored hash (a changed file
	 * invalidates it); the NUL bytes keep "a"+"bc" apart from "ab"+"c". */
	unsigned char key[32];
	unsigned int klen = 0;
	size_t ul = strlen(user), pl = strlen(password), hl = strlen(e->hash);
	_cleanup_free_ unsigned char *msg = malloc(ul + pl + hl + 3);
	if (!msg)
		return 0;
	memcpy(msg, user, ul + 1);
	memcpy(msg + ul + 1, password, pl + 1);
	memcpy(msg + ul + pl + 2, e->hash, hl + 1);
	HMAC(EVP_sha256(), h->secret, sizeof(h->secret), msg, ul + pl + hl + 3, key, &klen);
	OPENSSL_cleanse(msg, ul + pl + hl + 3);
	time_t now = time(NULL);
	struct cache_slot *slot = &h->cache[key[0] % HTPASSWD_CACHE_SLOTS];
	pthread_mutex_lock(&h->lock);
	int hit = slot->expires > now && CRYPTO_memcmp(slot->key, key, sizeof(key)) == 0;
	pthread_mutex_unlock(&h->lock);
	if (hit)
		return 1;

	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return 0;
	const char *out = crypt_rn(password, e->hash, cd, sizeof(*cd));
	int ok = out && out[0] != '*' && strlen(out) == hl && CRYPTO_memcmp(out, e->hash, hl) == 0;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	if (ok) {
		pthread_mutex_lock(&h->lock);
		memcpy(slot->key, key, sizeof(key));
		slot->expires = now + HTPASSWD_CACHE_TTL;
		pthread_mutex_unlock(&h->lock);
	}
	return ok;
}

/* ---- access rules ---- */

struct acl_rule {
	char *pattern;
	struct strv users;
	unsigned actions;
	int catalog;
};

struct regsrv_acl {
	struct acl_rule *r;
	size_t n;
	int auth_enabled;
	int has_rules;
};

void regsrv_acl_free(struct regsrv_acl *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->r[i].pattern);
		strv_free(&a->r[i].users);
	}
	free(a->r);
	free(a);
}

int regsrv_acl_new(json_t *rules, int auth_enabled, struct regsrv_acl **ret, struct berr **err)
{
	struct regsrv_acl *a = calloc(1, sizeof(*a));
	if (!a)
		return berr_set(err, ENOMEM, "out of memory");
	a->auth_enabled = auth_enabled;
	if (rules && !json_is_array(rules)) {
		regsrv_acl_free(a);
		return berr_set(err, EINVAL, "access: must be an array of rules");
	}
	size_t n = rules ? json_array_size(rules) : 0;
	a->has_rules = rules != NULL;
	a->r = calloc(n ? n : 1, sizeof(*a->r));
	if (!a->r) {
		regsrv_acl_free(a);
		return berr_set(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		json_t *rule = json_array_get(rules, i);
		struct acl_rule *ar = &a->r[a->n++];
		json_t *repo = json_object_get(rule, "repository");
		json_t *users = json_object_get(rule, "users");
		json_t *acts = json_object_get(rule, "actions");
		if (!json_is_object(rule) || !json_is_string(repo) || !json_is_array(users) ||
		    !json_is_array(acts)) {
			regsrv_acl_free(a);
			return berr_set(err, EINVAL,
					"access rule %zu: needs \"repository\" (a string), "
					"\"users\" and \"actions\" (arrays)",
					i + 1);
		}
		const char *key;
		json_t *v;
		json_object_foreach(rule, key, v)
		{
			if (!streq(key, "repository") && !streq(key, "users") &&
			    !streq(key, "actions")) {
				regsrv_acl_free(a);
				return berr_set(err, EINVAL, "access rule %zu: unknown key '%s'",
						i + 1, key);
			}
		}
		if (!(ar->pattern = strdup(json_string_value(repo)))) {
			regsrv_acl_free(a);
			return berr_set(err, ENOMEM, "out of memory");
		}
		size_t j;
		json_array_foreach(users, j, v)
		{
			if (!json_is_string(v) || strv_push(&ar->users, json_string_value(v)) < 0) {
				regsrv_acl_free(a);
				return berr_set(err, EINVAL,
						"access rule %zu: users must be strings", i + 1);
			}
		}
		json_array_foreach(acts, j, v)
		{
			const char *s = json_string_value(v);
			unsigned bits = s ? regsrv_actions_parse(s, strlen(s)) : 0;
			if (s && streq(s, "catalog"))
				ar->catalog = 1;
			else if (!bits) {
				regsrv_acl_free(a);
				return berr_set(err, EINVAL,
						"access rule %zu: unknown action (pull, push, "
						"delete, catalog or *)",
						i + 1);
			}
			ar->actions |= bits;
			if (s && streq(s, "*"))
				ar->catalog = 1;
		}
	}
	*ret = a;
	return 0;
}

static int rule_has_user(const struct acl_rule *r, const char *user)
{
	for (size_t i = 0; i < r->users.n; i++) {
		const char *u = r->users.v[i];
		if (user ? (streq(u, "*") || streq(u, user)) : streq(u, "anonymous"))
			return 1;
	}
	return 0;
}

unsigned regsrv_acl_allowed(const struct regsrv_acl *a, const char *user, const char *repo)
{
	if (!a->has_rules)
		return !a->auth_enabled || user ? REGSRV_ACT_ALL : 0;
	unsigned actions = 0;
	for (size_t i = 0; i < a->n; i++)
		if (rule_has_user(&a->r[i], user) && fnmatch(a->r[i].pattern, repo, 0) == 0)
			actions |= a->r[i].actions;
	return actions;
}

int regsrv_acl_catalog(const struct regsrv_acl *a, const char *user)
{
	if (!a->has_rules)
		return !a->auth_enabled || user;
	for (size_t i = 0; i < a->n; i++)
		if (a->r[i].catalog && rule_has_user(&a->r[i], user))
			return 1;
	return 0;
}

/* ---- tokens ---- */

struct regsrv_token_key {
	enum regsrv_token_alg alg;
	unsigned char secret[32]; /* HS256 */
	EVP_PKEY *pkey;		  /* ES256 */
	char kid[64];
};

int regsrv_token_alg_parse(const char *s, enum regsrv_token_alg *ret)
{
	if (strcasecmp(s, "HS256") == 0)
		*ret = REGSRV_TOKEN_HS256;
	else if (strcasecmp(s, "ES256") == 0)
		*ret = REGSRV_TOKEN_ES256;
	else
		return -EINVAL;
	return 0;
}

void regsrv_token_key_free(struct regsrv_token_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

const char *regsrv_token_key_id(const struct regsrv_token_key *k)
{
	return k->kid;
}

/* Create dirfd/name with data, mode 0600, only if it does not exist: a temp file linked
 * into place, so that a reader never sees half a key and two servers starting at once
 * agree on one key (the loser reads the winner's). Returns 0, -EEXIST or -errno. */
static int create_secret_file(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[128];
	snprintf(tmp, sizeof(tmp), ".tmp-%d-%s", (int)getpid(), name);
	unlinkat(dirfd, tmp, 0);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	const unsigned char *p = data;
	size_t left = len;
	int r = 0;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && linkat(dirfd, tmp, dirfd, name, 0) < 0)
		r = -errno;
	unlinkat(dirfd, tmp, 0);
	if (r == 0)
		r = fs_fsync_dir_at(dirfd, ".");
	return r;
}

/* libtrust's key id: the first 240 bits of the SHA-256 of the DER public key, base32,
 * as 12 groups of 4 separated by ':'. */
static int compute_kid(EVP_PKEY *pkey, char *out, size_t size)
{
	unsigned char *der = NULL;
	int dlen = i2d_PUBKEY(pkey, &der);
	if (dlen <= 0)
		return -EINVAL;
	unsigned char h[32];
	EVP_Digest(der, (size_t)dlen, h, NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	char enc[49];
	size_t o = 0;
	for (size_t i = 0; i < 30; i += 5) {
		uint64_t v = 0;
		for (size_t j = 0; j < 5; j++)
			v = v << 8 | h[i + j];
		for (int k = 7; k >= 0; k--)
			enc[o++] = b32[(v >> (5 * k)) & 31];
	}
	enc[o] = '\0';
	size_t w = 0;
	for (size_t i = 0; i < 48 && w + 6 < size; i += 4) {
		if (i)
			out[w++] = ':';
		memcpy(out + w, enc + i, 4);
		w += 4;
	}
	out[w] = '\0';
	return 0;
}

int regsrv_token_key_load(int dirfd, enum regsrv_token_alg alg, struct regsrv_token_key **ret,
			  struct berr **err)
{
	struct regsrv_token_key *k = calloc(1, sizeof(*k));
	if (!k)
		return berr_set(err, ENOMEM, "out of memory");
	k->alg = alg;
	const char *name = alg == REGSRV_TOKEN_HS256 ? "token-hs256.key" : "token-es256.pem";
	int r;
	for (int attempt = 0; attempt < 2; attempt++) {
		_cleanup_free_ char *data = NULL;
		size_t len;
		r = fs_read_all_at(dirfd, name, 64 * 1024, &data, &len);
		if (r == 0) {
			if (alg == REGSRV_TOKEN_HS256) {
				if (len != sizeof(k->secret)) {
					regsrv_token_key_free(k);
					return berr_set(err, EINVAL,
							"token key '%s': not %zu bytes", name,
							sizeof(k->secret));
				}
				memcpy(k->secret, data, len);
				OPENSSL_cleanse(data, len);
			} else {
				BIO *bio = BIO_new_mem_buf(data, (int)len);
				k->pkey =
				    bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
				BIO_free(bio);
				OPENSSL_cleanse(data, len);
				if (!k->pkey || EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_EC ||
				    EVP_PKEY_get_bits(k->pkey) != 256 ||
				    compute_kid(k->pkey, k->kid, sizeof(k->kid)) < 0) {
					regsrv_token_key_free(k);
					return berr_set(err, EINVAL,
							"token key '%s': not a P-256 private key",
							name);
				}
			}
			*ret = k;
			return 0;
		}
		if (r != -ENOENT || attempt > 0)
			break;
		/* Generate it. */
		if (alg == REGSRV_TOKEN_HS256) {
			unsigned char secret[32];
			fill_random(secret, sizeof(secret));
			r = create_secret_file(dirfd, name, secret, sizeof(secret));
			OPENSSL_cleanse(secret, sizeof(secret));
		} else {
			EVP_PKEY *pk = EVP_EC_gen("P-256");
			BIO *bio = BIO_new(BIO_s_mem());
			char *pem = NULL;
			long plen = 0;
			if (pk && bio &&
			    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL))
				plen = BIO_get_mem_data(bio, &pem);
			r = plen > 0 ? create_secret_file(dirfd, name, pem, (size_t)plen) : -ENOMEM;
			BIO_free(bio);
			EVP_PKEY_free(pk);
		}
		if (r < 0 && r != -EEXIST)
			break;
	}
	regsrv_token_key_free(k);
	return berr_errno(err, -r, "token key '%s'", name);
}

/* The JWS signature of input: 32 bytes of HMAC, or 64 bytes of r||s. */
static int jws_sign(const struct regsrv_token_key *k, const char *input, size_t len,
		    unsigned char *sig, size_t *sig_len)
{
	if (k->alg == REGSRV_TOKEN_HS256) {
		unsigned int n = 0;
		if (!HMAC(EVP_sha256(), k->secret, sizeof(k->secret), (const unsigned char *)input,
			  len, sig, &n))
			return -EIO;
		*sig_len = n;
		return 0;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[128];
	size_t dlen = sizeof(der);
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
		 EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)input, len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!es)
		return -EIO;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(es, &r, &s);
	ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
	ECDSA_SIG_free(es);
	*sig_len = 64;
	return ok ? 0 : -EIO;
}

static int jws_verify(const struct regsrv_token_key *k, const char *input, size_t len,
		      const unsigned char *sig, size_t sig_len)
{
	if (k->alg == REGSRV_TOKEN_HS256) {
		unsigned char want[32];
		size_t wl;
		if (sig_len != 32 || jws_sign(k, input, len, want, &wl) < 0)
			return 0;
		return CRYPTO_memcmp(want, sig, 32) == 0;
	}
	if (sig_len != 64)
		return 0;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		return 0;
	}
	unsigned char *der = NULL;
	int dlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (dlen <= 0)
		return 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
		 EVP_DigestVerify(ctx, der, (size_t)dlen, (const unsigned char *)input, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

static const char *alg_name(enum regsrv_token_alg alg)
{
	return alg == REGSRV_TOKEN_HS256 ? "HS256" : "ES256";
}

int regsrv_token_sign(const struct regsrv_token_key *k, const char *issuer, const char *service,
		      const char *subject, const struct regsrv_access *access, size_t n, time_t now,
		      long expiry, char **ret, struct berr **err)
{
	_cleanup_json_ json_t *hdr = json_pack("{s:s, s:s}", "typ", "JWT", "alg", alg_name(k->alg));
	_cleanup_json_ json_t *acc = json_array();
	unsigned char jti_raw[16];
	char jti[33];
	fill_random(jti_raw, sizeof(jti_raw));
	for (size_t i = 0; i < sizeof(jti_raw); i++)
		snprintf(jti + 2 * i, 3, "%02x", jti_raw[i]);
	if (!hdr || !acc || (k->kid[0] && json_object_set_new(hdr, "kid", json_string(k->kid)) < 0))
		return berr_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *acts = json_array();
		if (streq(access[i].type, "registry") && access[i].actions) {
			/* registry:catalog has the one action "*". */
			json_array_append_new(acts, json_string("*"));
		} else {
			for (size_t j = 0; j < ARRAY_SIZE(action_words); j++)
				if (access[i].actions & action_words[j].bit)
					json_array_append_new(acts,
							      json_string(action_words[j].word));
		}
		json_t *a = json_pack("{s:s, s:s, s:o}", "type", access[i].type, "name",
				      access[i].name, "actions", acts);
		if (!a || json_array_append_new(acc, a) < 0)
			return berr_set(err, ENOMEM, "out of memory");
	}
	_cleanup_json_ json_t *claims =
	    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O}", "iss", issuer, "sub", subject,
		      "aud", service, "exp", (json_int_t)(now + expiry), "nbf", (json_int_t)now,
		      "iat", (json_int_t)now, "jti", jti, "access", acc);
	if (!claims)
		return berr_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *hs = json_dumps(hdr, JSON_COMPACT);
	_cleanup_free_ char *cs = json_dumps(claims, JSON_COMPACT);
	_cleanup_free_ char *h64 = hs ? regsrv_b64url_encode(hs, strlen(hs)) : NULL;
	_cleanup_free_ char *c64 = cs ? regsrv_b64url_encode(cs, strlen(cs)) : NULL;
	if (!h64 || !c64)
		return berr_set(err, ENOMEM, "out of memory");
	size_t hl = strlen(h64), cl = strlen(c64);
	_cleanup_free_ char *input = malloc(hl + cl + 2);
	if (!input)
		return berr_set(err, ENOMEM, "out of memory");
	memcpy(input, h64, hl);
	input[hl] = '.';
	memcpy(input + hl + 1, c64, cl + 1);
	unsigned char sig[64];
	size_t sl;
	if (jws_sign(k, input, hl + cl + 1, sig, &sl) < 0)
		return berr_set(err, EIO, "sign token");
	_cleanup_free_ char *s64 = regsrv_b64url_encode(sig, sl);
	if (!s64)
		return berr_set(err, ENOMEM, "out of memory");
	size_t sl64 = strlen(s64);
	char *out = malloc(hl + cl + sl64 + 3);
	if (!out)
		return berr_set(err, ENOMEM, "out of memory");
	memcpy(out, input, hl + cl + 1);
	out[hl + cl + 1] = '.';
	memcpy(out + hl + cl + 2, s64, sl64 + 1);
	*ret = out;
	return 0;
}

void regsrv_token_claims_free(struct regsrv_token_claims *c)
{
	free(c->subject);
	free(c->access);
	memset(c, 0, sizeof(*c));
}

static json_t *decode_part(const char *s, size_t len)
{
	unsigned char *raw;
	size_t n;
	if (b64_decode_any(s, len, &raw, &n) < 0)
		return NULL;
	json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int aud_matches(json_t *aud, const char *service)
{
	if (json_is_string(aud))
		return streq(json_string_value(aud), service);
	size_t i;
	json_t *v;
	json_array_foreach(aud, i, v)
	{
		if (json_is_string(v) && streq(json_string_value(v), service))
			return 1;
	}
	return 0;
}

int regsrv_token_verify(const struct regsrv_token_key *k, const char *token, const char *issuer,
			const char *service, time_t now, struct regsrv_token_claims *ret,
			struct berr **err)
{
	memset(ret, 0, sizeof(*ret));
	size_t len = strnlen(token, TOKEN_MAX + 1);
	if (len > TOKEN_MAX)
		return berr_set(err, EACCES, "token too long");
	const char *d1 = memchr(token, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
		return berr_set(err, EACCES, "malformed token");
	_cleanup_json_ json_t *hdr = decode_part(token, (size_t)(d1 - token));
	if (!hdr)
		return berr_set(err, EACCES, "malformed token header");
	const char *alg = json_string_value(json_object_get(hdr, "alg"));
	/* The key decides the algorithm, never the token ("none", HS256 with a public key). */
	if (!alg || !streq(alg, alg_name(k->alg)))
		return berr_set(err, EACCES, "token algorithm is not %s", alg_name(k->alg));
	unsigned char *sig;
	size_t sl;
	if (b64_decode_any(d2 + 1, len - (size_t)(d2 + 1 - token), &sig, &sl) < 0)
		return berr_set(err, EACCES, "malformed token signature");
	int ok = jws_verify(k, token, (size_t)(d2 - token), sig, sl);
	free(sig);
	if (!ok)
		return berr_set(err, EACCES, "bad token signature");

	_cleanup_json_ json_t *c = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
	if (!c)
		return berr_set(err, EACCES, "malformed token claims");
	json_t *iss = json_object_get(c, "iss"), *exp = json_object_get(c, "exp"),
	       *nbf = json_object_get(c, "nbf"), *sub = json_object_get(c, "sub"),
	       *acc = json_object_get(c, "access");
	if (!json_is_string(iss) || !streq(json_string_value(iss), issuer))
		return berr_set(err, EACCES, "token issuer mismatch");
	if (!aud_matches(json_object_get(c, "aud"), service))
		return berr_set(err, EACCES, "token audience mismatch");
	if (!json_is_integer(exp) || json_integer_value(exp) <= now)
		return berr_set(err, EACCES, "token expired");
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > now + CLOCK_SKEW))
		return berr_set(err, EACCES, "token not valid yet");
	if ((sub && !json_is_string(sub)) || (acc && !json_is_array(acc)) ||
	    json_array_size(acc) > ACCESS_MAX)
		return berr_set(err, EACCES, "malformed token claims");
	ret->subject = strdup(sub ? json_string_value(sub) : "");
	ret->access = calloc(json_array_size(acc) + 1, sizeof(*ret->access));
	if (!ret->subject || !ret->access) {
		regsrv_token_claims_free(ret);
		return berr_set(err, ENOMEM, "out of memory");
	}
	ret->expires = (time_t)json_integer_value(exp);
	size_t i;
	json_t *a;
	json_array_foreach(acc, i, a)
	{
		const char *type = json_string_value(json_object_get(a, "type"));
		const char *name = json_string_value(json_object_get(a, "name"));
		json_t *acts = json_object_get(a, "actions");
		if (!type || !name || !json_is_array(acts) ||
		    strlen(type) >= sizeof(ret->access->type) || strlen(name) > REGSRV_NAME_MAX)
			continue;
		struct regsrv_access *ra = &ret->access[ret->n++];
		snprintf(ra->type, sizeof(ra->type), "%s", type);
		snprintf(ra->name, sizeof(ra->name), "%s", name);
		size_t j;
		json_t *v;
		json_array_foreach(acts, j, v)
		{
			const char *s = json_string_value(v);
			if (s)
				ra->actions |= regsrv_actions_parse(s, strlen(s));
		}
	}
	return 0;
}

unsigned regsrv_token_claims_allowed(const struct regsrv_token_claims *c, const char *type,
				     const char *name)
{
	unsigned a = 0;
	for (size_t i = 0; i < c->n; i++)
		if (streq(c->access[i].type, type) && streq(c->access[i].name, name))
			a |= c->access[i].actions;
	return a;
}
