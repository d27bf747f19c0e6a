/* fork() after C_Initialize: the child must call C_Initialize again (3.0 5.4 / 6.7.5); until then
 * calls give CKR_CRYPTOKI_NOT_INITIALIZED. Both processes keep working. */
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    CK_FUNCTION_LIST *fl = function_list(load_module(argv[1]));
    CK_SESSION_HANDLE h;
    CK_BYTE buf[32];
    CHECK(fl->C_Initialize(NULL));
    CK_SLOT_ID slot = find_token(fl);
    CHECK(fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    CHECK(login_user(fl, h));
    CHECK(fl->C_GenerateRandom(h, buf, sizeof(buf)));

    pid_t pid = fork();
    if (pid < 0) return 5;
    if (pid == 0) {
        CK_ULONG count = 0;
        CK_RV rv = fl->C_GetSlotList(0, NULL, &count);
        if (rv != CKR_CRYPTOKI_NOT_INITIALIZED) {
            fprintf(stderr, "child: C_GetSlotList before C_Initialize gave 0x%lx\n", rv);
            _exit(10);
        }
        rv = fl->C_GenerateRandom(h, buf, sizeof(buf));
        if (rv != CKR_CRYPTOKI_NOT_INITIALIZED) {
            fprintf(stderr, "child: the parent's session gave 0x%lx\n", rv);
            _exit(11);
        }
        CHECK(fl->C_Initialize(NULL));
        CK_SLOT_ID child_slot = find_token(fl);
        CK_SESSION_HANDLE ch;
        CHECK(fl->C_OpenSession(child_slot, CKF_SERIAL_SESSION, NULL, NULL, &ch));
        CHECK(login_user(fl, ch)); /* a new application: nobody is logged in yet */
        CHECK(fl->C_GenerateRandom(ch, buf, sizeof(buf)));
        CHECK(fl->C_CloseSession(ch));
        CHECK(fl->C_Finalize(NULL));
        fprintf(stderr, "child: ok\n");
        exit(0);
    }
    /* The parent keeps working while the child runs. */
    for (int i = 0; i < 20; i++) CHECK(fl->C_GenerateRandom(h, buf, sizeof(buf)));
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return 6;
    CK_SESSION_INFO info;
    CHECK(fl->C_GetSessionInfo(h, &info));
    if (info.state != 3) {
        fprintf(stderr, "parent: session state %lu after fork\n", info.state);
        return 7;
    }
    CHECK(fl->C_GenerateRandom(h, buf, sizeof(buf)));
    CHECK(fl->C_CloseSession(h));
    CHECK(fl->C_Finalize(NULL));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "parent: child status 0x%x\n", status);
        return 8;
    }
    fprintf(stderr, "parent: ok\n");
    return 0;
}
