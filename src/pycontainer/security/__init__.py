"""Security settings applied to the container process: capabilities now;
seccomp and LSM labels build on the same final exec step."""
