/* tlsshim: the launcher.
 *
 *   tlsshim [-c POLICY] [--] PROGRAM [ARGS...]   run PROGRAM under the shim
 *   tlsshim --check -c POLICY                    validate, print effective rules
 *   tlsshim --ciphers | --versions | --version | --help
 *
 * Running a program: the policy (-c, else TLSSHIM_CONFIG) is validated first
 * - including loading every rule's keys and certificates - then LD_PRELOAD is
 * set to the libtlsshim.so next to this binary (a build tree), else in
 * ../lib/tlsshim/ from it (an installed tree), TLSSHIM_CONFIG to
 * the policy's absolute path, and the program is exec'd. Programs that the
 * loader would not preload into are refused rather than run without TLS:
 * setuid/setgid programs (the loader ignores LD_PRELOAD in secure mode),
 * statically linked programs (no loader at all) and Go programs (they make
 * their socket calls without libc). */
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "check_warnings.h"
#include "ruleopts.h"
#include "tlsengine.h"

#define TLSSHIM_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tlsshim [-c POLICY] [--] PROGRAM [ARGS...]\n"
            "       tlsshim --check -c POLICY\n"
            "       tlsshim --ciphers | --versions | --version | --help\n"
            "\n"
            "Runs PROGRAM with libtlsshim.so preloaded: its TCP connections that match a\n"
            "rule of the policy are upgraded to TLS (connect rules: tlsshim is the client;\n"
            "accept rules: tlsshim is the server). The policy is -c POLICY, else\n"
            "$TLSSHIM_CONFIG.\n"
            "\n"
            "  -c, --config POLICY  the policy file (INI)\n"
            "  --check              validate the policy (and load its keys), print the\n"
            "                       effective rules; exit 0 if valid, 1 if not\n"
            "  --ciphers            the cipher suites the engine implements, best first\n"
            "  --versions           the protocol versions: supported by default, available\n"
            "  --version            tlsshim's version\n"
            "  --help               this text\n");
}

static int load_policy(const char *path, policy **out)
{
    char err[1024] = "";
    if (policy_load(path, out, err, sizeof err) < 0) {
        fprintf(stderr, "tlsshim: %s\n", err[0] ? err : "invalid policy");
        return -1;
    }
    return 0;
}

static void keylog_nop(const char *line, void *arg)
{
    (void)line;
    (void)arg;
}

/* Builds every rule's tls_config, as the shim will: wrong passwords, keys
 * that do not match their certificates, unknown cipher names show here.
 * With configs (n_rules slots), keeps them there for the caller to free. */
static int check_configs(const policy *p, tls_config **configs)
{
    int bad = 0;
    for (size_t i = 0; i < p->n_rules; i++) {
        char msg[1024];
        tls_config *c = NULL;
        if (ruleopts_build(p, &p->rules[i], &c, msg, sizeof msg, keylog_nop) < 0) {
            fprintf(stderr, "tlsshim: %s\n", msg);
            bad = 1;
        } else if (configs) {
            configs[i] = c;
        } else {
            tls_config_free(c);
        }
    }
    return bad ? -1 : 0;
}

static int cmd_check(const char *path)
{
    policy *p = NULL;
    if (!path) {
        fprintf(stderr, "tlsshim: --check needs a policy: -c POLICY\n");
        return 1;
    }
    if (load_policy(path, &p) < 0)
        return 1;
    tls_config **configs = calloc(p->n_rules ? p->n_rules : 1, sizeof *configs);
    if (!configs) {
        fprintf(stderr, "tlsshim: out of memory\n");
        policy_free(p);
        return 1;
    }
    int rc = check_configs(p, configs);
    if (rc == 0) {
        /* the effective policy, then what in it is weak (comments: the
         * output stays a policy) */
        policy_print(p, stdout);
        fputc('\n', stdout);
        check_warnings(p, configs, stdout);
        fflush(stdout);
    }
    for (size_t i = 0; i < p->n_rules; i++)
        tls_config_free(configs[i]);
    free(configs);
    policy_free(p);
    return rc == 0 ? 0 : 1;
}

static int cmd_ciphers(void)
{
    size_t n = tls_cipher_suites(NULL, 0);
    const tls_suite_info **all = calloc(n ? n : 1, sizeof *all);
    if (!all)
        return 1;
    n = tls_cipher_suites(all, n);
    printf("%-45s %-32s %s\n", "# IANA", "OpenSSL", "erlang");
    for (size_t i = 0; i < n; i++) {
        char o[128], e[128];
        tls_suite_format_name(all[i], TLS_SUITES_OPENSSL, o, sizeof o);
        tls_suite_format_name(all[i], TLS_SUITES_ERLANG, e, sizeof e);
        printf("%-45s %-32s %s\n", all[i]->iana_name ? all[i]->iana_name : "-", o, e);
    }
    free(all);
    return 0;
}

static void print_mask(const char *label, unsigned mask)
{
    printf("%s:", label);
    const char *sep = " ";
    for (int i = 4; i >= 0; i--) {
        if (mask & (1u << i)) {
            printf("%s%s", sep, tls_version_name((uint16_t)(TLS_SSL3 + i)));
            sep = ", ";
        }
    }
    printf("\n");
}

static int cmd_versions(void)
{
    tls_versions_info v;
    memset(&v, 0, sizeof v);
    tls_versions(&v);
    printf("ssl_app: %s\n", v.app_version ? v.app_version : "?");
    print_mask("supported", v.supported);
    print_mask("available", v.available);
    return 0;
}

/* PROGRAM as execvp would find it. */
static int find_program(const char *prog, char *out, size_t len)
{
    if (strchr(prog, '/')) {
        snprintf(out, len, "%s", prog);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t dl = colon ? (size_t)(colon - p) : strlen(p);
        if (dl == 0)
            snprintf(out, len, "./%s", prog);
        else
            snprintf(out, len, "%.*s/%s", (int)dl, p, prog);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        p += dl;
        if (*p == ':')
            p++;
    }
    errno = ENOENT;
    return -1;
}

/* What an executable is, as far as preloading goes. */
enum { EXE_DYNAMIC, EXE_STATIC, EXE_GO, EXE_SCRIPT, EXE_UNKNOWN };

static int read_at(int fd, void *buf, size_t len, off_t off)
{
    ssize_t n = pread(fd, buf, len, off);
    return n == (ssize_t)len ? 0 : -1;
}

static int classify_elf64(int fd, const Elf64_Ehdr *eh)
{
    bool interp = false;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        if (read_at(fd, &ph, sizeof ph, (off_t)(eh->e_phoff + (Elf64_Off)i * eh->e_phentsize)) < 0)
            return EXE_UNKNOWN;
        if (ph.p_type == PT_INTERP)
            interp = true;
    }
    if (!interp)
        return EXE_STATIC;
    /* Go: a .go.buildinfo section */
    if (eh->e_shoff && eh->e_shstrndx != SHN_UNDEF && eh->e_shnum < 4096) {
        Elf64_Shdr strsh;
        if (read_at(fd, &strsh, sizeof strsh,
                    (off_t)(eh->e_shoff + (Elf64_Off)eh->e_shstrndx * eh->e_shentsize)) == 0 &&
            strsh.sh_size < (1u << 20)) {
            char *names = malloc(strsh.sh_size + 1);
            if (names && read_at(fd, names, strsh.sh_size, (off_t)strsh.sh_offset) == 0) {
                names[strsh.sh_size] = '\0';
                for (unsigned i = 0; i < eh->e_shnum; i++) {
                    Elf64_Shdr sh;
                    if (read_at(fd, &sh, sizeof sh,
                                (off_t)(eh->e_shoff + (Elf64_Off)i * eh->e_shentsize)) < 0)
                        break;
                    if (sh.sh_name < strsh.sh_size &&
                        strcmp(names + sh.sh_name, ".go.buildinfo") == 0) {
                        free(names);
                        return EXE_GO;
                    }
                }
            }
            free(names);
        }
    }
    return EXE_DYNAMIC;
}

static int classify_elf32(int fd, const Elf32_Ehdr *eh)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf32_Phdr ph;
        if (read_at(fd, &ph, sizeof ph, (off_t)(eh->e_phoff + (Elf32_Off)i * eh->e_phentsize)) < 0)
            return EXE_UNKNOWN;
        if (ph.p_type == PT_INTERP)
            return EXE_DYNAMIC;
    }
    return EXE_STATIC;
}

static int classify(const char *file, char *interp, size_t ilen)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return EXE_UNKNOWN;
    unsigned char head[256];
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    int kind = EXE_UNKNOWN;
    if (n >= 2 && head[0] == '#' && head[1] == '!') {
        head[n] = '\0';
        char *s = (char *)head + 2;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strcspn(s, " \t\n");
        snprintf(interp, ilen, "%.*s", (int)l, s);
        /* "#!/usr/bin/env NAME": the interpreter is NAME, looked up in PATH */
        if (strcmp(interp, "/usr/bin/env") == 0 || strcmp(interp, "/bin/env") == 0) {
            s += l;
            while (*s == ' ' || *s == '\t')
                s++;
            size_t nl = strcspn(s, " \t\n");
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(nl < 255 ? nl : 255), s);
            if (!name[0] || name[0] == '-' || find_program(name, interp, ilen) < 0)
                interp[0] = '\0';
        }
        kind = EXE_SCRIPT;
    } else if (n >= (ssize_t)sizeof(Elf32_Ehdr) && memcmp(head, ELFMAG, SELFMAG) == 0) {
        if (head[EI_CLASS] == ELFCLASS64 && n >= (ssize_t)sizeof(Elf64_Ehdr)) {
            Elf64_Ehdr eh;
            memcpy(&eh, head, sizeof eh);
            kind = classify_elf64(fd, &eh);
        } else if (head[EI_CLASS] == ELFCLASS32) {
            Elf32_Ehdr eh;
            memcpy(&eh, head, sizeof eh);
            kind = classify_elf32(fd, &eh);
        }
    }
    close(fd);
    return kind;
}

/* Refuses what LD_PRELOAD cannot reach. 0: fine to run. */
static int check_program(const char *prog)
{
    char file[PATH_MAX];
    if (find_program(prog, file, sizeof file) < 0)
        return 0; /* execvp will say why */
    for (int level = 0; level < 3; level++) {
        struct stat st;
        if (stat(file, &st) < 0)
            return 0;
        if (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
            ((st.st_mode & S_ISGID) && st.st_gid != getgid())) {
            fprintf(stderr,
                    "tlsshim: %s is set%sid: the dynamic loader ignores LD_PRELOAD for it, so it "
                    "would run without TLS; refusing\n",
                    file, (st.st_mode & S_ISUID) ? "u" : "g");
            return -1;
        }
        char interp[PATH_MAX] = "";
        switch (classify(file, interp, sizeof interp)) {
        case EXE_STATIC:
            fprintf(stderr,
                    "tlsshim: %s is statically linked: LD_PRELOAD cannot reach it, so it would "
                    "run without TLS; refusing\n",
                    file);
            return -1;
        case EXE_GO:
            fprintf(stderr,
                    "tlsshim: %s is a Go program: it makes its socket calls without libc, so "
                    "LD_PRELOAD cannot reach them and it would run without TLS; refusing\n",
                    file);
            return -1;
        case EXE_SCRIPT:
            /* the interpreter is what gets preloaded */
            if (!interp[0])
                return 0;
            snprintf(file, sizeof file, "%s", interp);
            continue;
        default:
            return 0;
        }
    }
    return 0;
}

/* Where libtlsshim.so may be, in order: next to this binary (the build tree),
 * then <dir of this binary>/../lib/tlsshim/ (an installed tree). Relative to
 * the binary's own resolved path, so a DESTDIR staging or a moved prefix works
 * as well as the installed one. 0 with the first readable one in out; else -1
 * and `tried` names every place looked at, with why each failed. */
static int shim_library(char *out, size_t len, char *tried, size_t tried_len)
{
    char self[PATH_MAX];
    tried[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(tried, tried_len, "/proc/self/exe: %s", n < 0 ? strerror(errno) : "empty");
        return -1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) {
        snprintf(tried, tried_len, "/proc/self/exe: not an absolute path: %s", self);
        return -1;
    }
    *slash = '\0'; /* self: the binary's folder ("" for "/") */
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", self);
    /* the folder's parent, without "..": the path ends up in LD_PRELOAD and logs */
    char *up = strrchr(parent, '/');
    if (up)
        *up = '\0';
    const char *const base[2] = {self, parent};
    const char *const file[2] = {"/libtlsshim.so", "/lib/tlsshim/libtlsshim.so"};
    size_t used = 0;
    for (int i = 0; i < 2; i++) {
        int w = snprintf(out, len, "%s%s", base[i], file[i]);
        const char *why = "path too long";
        if (w >= 0 && (size_t)w < len) {
            if (access(out, R_OK) == 0)
                return 0;
            why = strerror(errno);
        }
        int t = snprintf(tried + used, tried_len - used, "%s%s%s (%s)", used ? ", " : "",
                         base[i], file[i], why);
        if (t > 0 && (size_t)t < tried_len - used)
            used += (size_t)t;
    }
    return -1;
}

/* A sanitizer build of the shim needs the sanitizer runtime loaded first in
 * the program; this launcher, built the same way, has it loaded already:
 * find its path. Empty in normal builds. */
#if defined(__SANITIZE_ADDRESS__)
#define LAUNCHER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LAUNCHER_ASAN 1
#endif
#endif
#ifdef LAUNCHER_ASAN
static int find_asan(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *name = info->dlpi_name;
    if (name && (strstr(name, "/libasan.so") || strstr(name, "libclang_rt.asan"))) {
        snprintf(data, PATH_MAX, "%s", name);
        return 1;
    }
    return 0;
}
#endif

static void sanitizer_runtime(char *out)
{
    out[0] = '\0';
#ifdef LAUNCHER_ASAN
    dl_iterate_phdr(find_asan, out);
#endif
}

static int cmd_run(const char *policy_path, char **argv)
{
    if (!policy_path || !*policy_path) {
        fprintf(stderr, "tlsshim: no policy: use -c POLICY or set TLSSHIM_CONFIG\n");
        return 2;
    }
    char abs[PATH_MAX];
    if (!realpath(policy_path, abs)) {
        fprintf(stderr, "tlsshim: %s: %s\n", policy_path, strerror(errno));
        return 1;
    }
    policy *p = NULL;
    if (load_policy(abs, &p) < 0)
        return 1;
    int rc = check_configs(p, NULL);
    policy_free(p);
    if (rc < 0)
        return 1;
    if (check_program(argv[0]) < 0)
        return 1;
    char lib[PATH_MAX], tried[3 * PATH_MAX + 256];
    if (shim_library(lib, sizeof lib, tried, sizeof tried) < 0) {
        fprintf(stderr, "tlsshim: cannot find libtlsshim.so; looked at: %s\n", tried);
        return 1;
    }
    const char *old = getenv("LD_PRELOAD");
    char san[PATH_MAX];
    sanitizer_runtime(san);
    char withsan[2 * PATH_MAX + 2];
    if (san[0] && (!old || !strstr(old, san))) {
        int w = snprintf(withsan, sizeof withsan, "%s%s%s", san, old && *old ? ":" : "",
                         old ? old : "");
        if (w > 0 && (size_t)w < sizeof withsan)
            old = withsan;
        /* the program is not ours to judge: no leak report for it (later
         * ASAN_OPTIONS entries override earlier ones) */
        const char *ao = getenv("ASAN_OPTIONS");
        char opts[4096];
        w = snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", ao && *ao ? ao : "",
                     ao && *ao ? ":" : "");
        if (w > 0 && (size_t)w < sizeof opts)
            setenv("ASAN_OPTIONS", opts, 1);
    }
    char *preload;
    if (old && *old) {
        size_t l = strlen(lib) + strlen(old) + 2;
        preload = malloc(l);
        if (!preload)
            return 1;
        /* after what is there: a sanitizer runtime must stay first */
        snprintf(preload, l, "%s:%s", old, lib);
    } else {
        preload = strdup(lib);
        if (!preload)
            return 1;
    }
    if (setenv("LD_PRELOAD", preload, 1) < 0 || setenv("TLSSHIM_CONFIG", abs, 1) < 0) {
        fprintf(stderr, "tlsshim: setenv: %s\n", strerror(errno));
        return 1;
    }
    free(preload);
    execvp(argv[0], argv);
    fprintf(stderr, "tlsshim: cannot run %s: %s\n", argv[0], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
    const char *policy_path = NULL;
    bool check = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tlsshim: %s needs a file\n", a);
                return 2;
            }
            policy_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            policy_path = a + 9;
        } else if (strcmp(a, "--check") == 0) {
            check = true;
        } else if (strcmp(a, "--ciphers") == 0) {
            return cmd_ciphers();
        } else if (strcmp(a, "--versions") == 0) {
            return cmd_versions();
        } else if (strcmp(a, "--version") == 0) {
            tls_versions_info v;
            memset(&v, 0, sizeof v);
            tls_versions(&v);
            printf("tlsshim %s (%s)\n", TLSSHIM_VERSION, v.app_version ? v.app_version : "tlsengine");
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "tlsshim: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    if (!policy_path) {
        const char *env = getenv("TLSSHIM_CONFIG");
        if (env && *env)
            policy_path = env;
    }
    if (check)
        return cmd_check(policy_path);
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    return cmd_run(policy_path, argv + i);
}
