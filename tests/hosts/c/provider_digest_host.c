/* An OpenSSL 3 program that clones a digest computed by pkcs11-provider (EVP_MD_CTX_copy_ex):
 * the provider saves the token's operation with C_GetOperationState and restores it into a new
 * session with C_SetOperationState. Both copies go on with other data; the program prints the
 * four digests (hex, one per line): clone-a, clone-b, and the same two computed in software.
 * Usage: provider_digest_host KEY-URI (OPENSSL_CONF names the provider configuration). The
 * provider loads the token's module when a key is first looked up, and offers its digests from
 * then on: the program opens the URI first. (The provider's "early" loading would make Python's
 * hashlib, inside the module, initialise the host's own libcrypto while that libcrypto is still
 * reading its configuration.) */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/store.h>
#include <stdio.h>
#include <string.h>

static int finish(EVP_MD_CTX *ctx, const char *tail) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_DigestUpdate(ctx, tail, strlen(tail)) || !EVP_DigestFinal_ex(ctx, md, &len)) return 0;
    for (unsigned int i = 0; i < len; i++) printf("%02x", md[i]);
    printf("\n");
    return 1;
}

static int software(const char *data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (!EVP_Q_digest(NULL, "SHA256", "provider=default", data, strlen(data), md, &len)) return 0;
    for (size_t i = 0; i < len; i++) printf("%02x", md[i]);
    printf("\n");
    return 1;
}

int main(int argc, char **argv) {
    OSSL_STORE_CTX *store = argc > 1 ? OSSL_STORE_open(argv[1], NULL, NULL, NULL, NULL) : NULL;
    if (store == NULL) goto fail;
    OSSL_STORE_INFO_free(OSSL_STORE_load(store));
    OSSL_STORE_close(store);
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", "provider=pkcs11");
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    const char *head = "common prefix, hashed on the token; ";
    if (md == NULL || a == NULL || b == NULL) goto fail;
    if (!EVP_DigestInit_ex2(a, md, NULL) || !EVP_DigestUpdate(a, head, strlen(head))) goto fail;
    if (!EVP_MD_CTX_copy_ex(b, a)) goto fail;
    if (!finish(a, "then one way") || !finish(b, "then the other")) goto fail;
    if (!software("common prefix, hashed on the token; then one way")) goto fail;
    if (!software("common prefix, hashed on the token; then the other")) goto fail;
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    EVP_MD_free(md);
    return 0;
fail:
    ERR_print_errors_fp(stderr);
    return 1;
}
