#!/bin/sh
# hello.sh: a script with a "#!" line, for `./exec-family shebang`.
#
# exec-family runs it with exec_file, that is execve("./hello.sh", ...), with
# no shell in between. The kernel reads the first line, sees "#!/bin/sh" and
# runs /bin/sh ./hello.sh ARGS instead. That only works if the file has its
# execute bit: `make` sets it (chmod +x), because a checkout may not keep it.
echo "hello from $0 (pid $$): the kernel read my #! line; args: $*"
