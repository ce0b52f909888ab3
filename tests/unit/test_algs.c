/* The algorithm cache: RC4 and DES come from a private library context, so a
 * program that uses OpenSSL itself does not see the legacy provider appear
 * in its default context because tlsshim was loaded into it. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "suites.h"

Test(algs, legacy_ciphers_stay_out_of_the_default_context)
{
    bool legacy_before = OSSL_PROVIDER_available(NULL, "legacy");
    cr_assert(tls_algs_init());
    cr_assert_not_null(tls_algs_cipher(TLS_CIPHER_AES_128_GCM));
    cr_assert_not_null(tls_algs_cipher(TLS_CIPHER_RC4_128), "RC4 from the private legacy context");
    cr_assert_not_null(tls_algs_cipher(TLS_CIPHER_DES_CBC), "DES from the private legacy context");
    cr_assert_eq(OSSL_PROVIDER_available(NULL, "legacy"), legacy_before,
                 "the default context's providers are unchanged");
    if (!legacy_before) {
        EVP_CIPHER *rc4 = EVP_CIPHER_fetch(NULL, "RC4", NULL);
        cr_assert_null(rc4, "RC4 must not become available to the host program");
        EVP_CIPHER_free(rc4);
    }
}

Test(algs, every_cipher_and_digest_fetched_once)
{
    cr_assert(tls_algs_init());
    for (int i = 0; i < TLS_CIPHER_COUNT; i++)
        cr_assert_eq(tls_algs_cipher((tls_cipher_id)i), tls_algs_cipher((tls_cipher_id)i));
    for (int h = 0; h < TLS_HASH_COUNT; h++) {
        cr_assert_not_null(tls_algs_md((tls_hash_id)h), "%s", tls_hash_name((tls_hash_id)h));
        cr_assert_eq((size_t)EVP_MD_get_size(tls_algs_md((tls_hash_id)h)), tls_hash_len((tls_hash_id)h));
    }
}
