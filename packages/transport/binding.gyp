{
  "targets": [
    {
      "target_name": "udp4",
      "sources": ["native/udp4.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
