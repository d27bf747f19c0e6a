/* OpenSSL's pkcs11 engine/provider pattern: C_CloseSession and C_Finalize from an atexit handler
 * that runs after main returned. Exit status 0 and no crash expected.
 * argv[2] = "early": register the handler before dlopen() (OpenSSL registers its cleanup when it
 * starts, before it loads the provider), so it runs after the module's own exit-time destructors.
 * Otherwise register it after the session is open. */
#include "host.h"

static CK_FUNCTION_LIST *fl;
static CK_SESSION_HANDLE session;

static void at_exit(void) {
    if (!fl) return;
    CK_RV close_rv = fl->C_CloseSession(session);
    CK_RV final_rv = fl->C_Finalize(NULL);
    fprintf(stderr, "host: atexit C_CloseSession=0x%lx C_Finalize=0x%lx\n", close_rv, final_rv);
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    int early = argc > 2 && strcmp(argv[2], "early") == 0;
    if (early) atexit(at_exit);
    fl = function_list(load_module(argv[1]));
    CHECK(fl->C_Initialize(NULL));
    CK_SLOT_ID slot = find_token(fl);
    CHECK(fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session));
    CHECK(login_user(fl, session));
    if (!early) atexit(at_exit);
    fprintf(stderr, "host: main returns\n");
    return 0;
}
