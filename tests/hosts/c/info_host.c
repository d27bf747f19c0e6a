/* The minimal host: dlopen(RTLD_LOCAL), discovery, C_Initialize, C_GetInfo, C_Finalize.
 * Prints "init=0x.. info=<manufacturer>" on stdout. argv[2] = "interface": use C_GetInterface
 * (3.0) first, and report its result before C_Initialize. Exit 0 whatever C_Initialize says: the
 * test reads the line. */
#include "host.h"

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    void *handle = load_module(argv[1]);
    CK_FUNCTION_LIST *fl = function_list(handle);
    if (argc > 2 && strcmp(argv[2], "interface") == 0) {
        CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS) =
            (CK_RV(*)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS))dlsym(handle, "C_GetInterface");
        CK_INTERFACE_PTR iface = NULL;
        CK_RV rv = get ? get((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface, 0) : CKR_GENERAL_ERROR;
        CK_VERSION *version = iface ? (CK_VERSION *)iface->pFunctionList : NULL;
        printf("interface=0x%lx version=%d.%d\n", rv, version ? version->major : -1, version ? version->minor : -1);
        fflush(stdout);
    }
    CK_RV rv = fl->C_Initialize(NULL);
    CK_INFO info;
    memset(&info, 0, sizeof(info));
    CK_RV info_rv = rv == CKR_OK ? fl->C_GetInfo(&info) : rv;
    printf("init=0x%lx info_rv=0x%lx manufacturer=%.32s\n", rv, info_rv, (const char *)info.manufacturerID);
    fflush(stdout);
    if (rv == CKR_OK) CHECK(fl->C_Finalize(NULL));
    return 0;
}
