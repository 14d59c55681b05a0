/* berth-gnutls-off.so: what `berth registry serve` loads in GnuTLS's place when it serves
 * plain HTTP.
 *
 * Debian's libmicrohttpd links GnuTLS, and loading GnuTLS (with p11-kit, nettle, hogweed,
 * gmp, tasn1, idn2, unistring and libffi) and initialising it, which libmicrohttpd's
 * constructor does unconditionally, makes 2.5 MB of an idle server's 4.4 MB resident; a
 * server without TLS never calls it again. This library has GnuTLS's SONAME
 * (libgnutls.so.30) and the symbol versions libmicrohttpd asks for, so when it is loaded
 * first, the dynamic linker takes it for GnuTLS (a loaded object whose SONAME matches a
 * DT_NEEDED name satisfies it). Its gnutls_global_init() succeeds and does nothing; every
 * other function fails with GnuTLS's internal error code, so a TLS call that should never
 * happen can not half-work. See berth_lazy_load_with() in src/util/lazy.h for the loading
 * and its fallback, and docs/internals/REGISTRY.md for the measurements.
 *
 * Only the names libmicrohttpd 0.9.75 imports are here (gnutls.map gives their
 * versions). A libmicrohttpd that needs more fails to load against it, and berth then
 * loads it with the real GnuTLS. No other library may be loaded into that process after it:
 * libcurl's dependencies would bind to it too (the server uses none). */
#include <stddef.h>
#include <stdlib.h>

#define GNUTLS_E_INTERNAL_ERROR (-59)

/* GnuTLS exports its allocator as a variable. */
void *(*gnutls_malloc)(size_t) = malloc;

int gnutls_global_init(void);
void gnutls_global_deinit(void);
const char *gnutls_strerror(int error);

int gnutls_global_init(void)
{
	return 0;
}

void gnutls_global_deinit(void)
{
}

const char *gnutls_strerror(int error)
{
	(void)error;
	return "TLS is not loaded in this process";
}

/* The functions that return an error code. Their real arguments do not matter: the x86-64
 * calling convention lets a function that takes none be called with any. */
#define FAIL(name)                                                                                 \
	int name(void);                                                                            \
	int name(void)                                                                             \
	{                                                                                          \
		return GNUTLS_E_INTERNAL_ERROR;                                                    \
	}

FAIL(gnutls_alpn_set_protocols)
FAIL(gnutls_bye)
FAIL(gnutls_certificate_allocate_credentials)
FAIL(gnutls_certificate_set_dh_params)
FAIL(gnutls_certificate_set_retrieve_function2)
FAIL(gnutls_certificate_set_retrieve_function3)
FAIL(gnutls_certificate_set_x509_key_mem)
FAIL(gnutls_certificate_set_x509_key_mem2)
FAIL(gnutls_certificate_set_x509_trust_mem)
FAIL(gnutls_cipher_get)
FAIL(gnutls_credentials_set)
FAIL(gnutls_dh_params_import_pkcs3)
FAIL(gnutls_dh_params_init)
FAIL(gnutls_handshake)
FAIL(gnutls_init)
FAIL(gnutls_priority_init)
FAIL(gnutls_priority_set)
FAIL(gnutls_protocol_get_version)
FAIL(gnutls_psk_allocate_server_credentials)
FAIL(gnutls_psk_set_server_credentials_function)
FAIL(gnutls_record_check_pending)
FAIL(gnutls_record_get_direction)
FAIL(gnutls_record_recv)
FAIL(gnutls_record_send)

/* The ones that return nothing (or a pointer: none). */
#define NOTHING(name)                                                                              \
	void name(void);                                                                           \
	void name(void)                                                                            \
	{                                                                                          \
	}

NOTHING(gnutls_certificate_free_credentials)
NOTHING(gnutls_certificate_server_set_request)
NOTHING(gnutls_deinit)
NOTHING(gnutls_dh_params_deinit)
NOTHING(gnutls_priority_deinit)
NOTHING(gnutls_psk_free_server_credentials)
NOTHING(gnutls_session_set_ptr)
NOTHING(gnutls_transport_set_int2)

void *gnutls_session_get_ptr(void);
void *gnutls_session_get_ptr(void)
{
	return NULL;
}
