"""The container's processes: the parent side (spawn), the channel between
parent and init, and the init itself."""
