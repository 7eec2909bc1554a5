"""Process-level settings: device uploads and speed settings (``accel``), glibc malloc tunables
(``malloc_env``), and SIGTERM/SIGHUP handled like Ctrl-C (``stop_signals``).

Imports nothing of the package but ``errors``.
"""
