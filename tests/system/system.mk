# System tests: run as root; each builds its own namespaces and undoes them.
