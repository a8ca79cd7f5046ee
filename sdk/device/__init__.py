"""Talking to boards: transports (serial, socket, pty), the framed binary protocol, the MLPerf Tiny text protocol,
QEMU virtual boards, the AN3155 bootloader, flashing, and the device connection used by run and profile."""
