/* A host that unloads the module and then exits (issue 16, item 2): dlopen, use, C_Finalize,
 * dlclose; argv[2] = "again": then load it once more, use it, unload it again. Exit status 0 and
 * no crash expected: the module must leave nothing behind that points into it once unloaded. */
#include "host.h"

static void use_once(const char *path, int round) {
    void *handle = load_module(path);
    CK_FUNCTION_LIST *fl = function_list(handle);
    CHECK(fl->C_Initialize(NULL));
    CK_SLOT_ID slot = find_token(fl);
    CK_SESSION_HANDLE session;
    CHECK(fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session));
    CHECK(login_user(fl, session));
    CK_BYTE random[16];
    CHECK(fl->C_GenerateRandom(session, random, sizeof(random)));
    CHECK(fl->C_CloseSession(session));
    CHECK(fl->C_Finalize(NULL));
    if (dlclose(handle) != 0) {
        fprintf(stderr, "host: dlclose: %s\n", dlerror());
        exit(5);
    }
    fprintf(stderr, "host: round %d unloaded\n", round);
}

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    use_once(argv[1], 1);
    if (argc > 2 && strcmp(argv[2], "again") == 0) use_once(argv[1], 2);
    fprintf(stderr, "host: exits\n");
    return 0;
}
