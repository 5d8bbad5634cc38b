"""The C core; see core.c.  Import pycontainer.syscalls, not this package."""
