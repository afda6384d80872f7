"""The official Pulsar Python client as a test peer and benchmark baseline.

  publish URL TOPIC MODE             lines of stdin, one message each; MODE:
                                   batched, single, or a codec (batched and
                                   compressed): zlib, lz4, zstd, snappy
  consume URL TOPIC SUB N            prints N payloads (acked), one a line
  drain URL TOPIC SUB N              subscribes, consumes and acks N, prints seconds
"""
import sys
import time

import pulsar


def main():
    command, url, topic = sys.argv[1:4]
    client = pulsar.Client(url, logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error))
    try:
        if command == "publish":
            mode = sys.argv[4]
            compression = {
                "zlib": pulsar.CompressionType.ZLib,
                "lz4": pulsar.CompressionType.LZ4,
                "zstd": pulsar.CompressionType.ZSTD,
                "snappy": pulsar.CompressionType.SNAPPY,
            }.get(mode, pulsar.CompressionType.NONE)
            producer = client.create_producer(
                topic,
                compression_type=compression,
                batching_enabled=mode != "single",
                batching_max_messages=1000,
                batching_max_publish_delay_ms=50,
            )
            for line in sys.stdin.read().splitlines():
                producer.send_async(line.encode(), None)
            producer.flush()
            producer.close()
        elif command in ("consume", "drain"):
            subscription, count = sys.argv[4], int(sys.argv[5])
            started = time.perf_counter()
            consumer = client.subscribe(
                topic,
                subscription,
                consumer_type=pulsar.ConsumerType.Shared,
                initial_position=pulsar.InitialPosition.Earliest,
            )
            for _ in range(count):
                message = consumer.receive(60_000)
                consumer.acknowledge(message)
                if command == "consume":
                    print(message.data().decode(), flush=True)
            if command == "drain":
                print(f"{time.perf_counter() - started:.3f}")
            consumer.close()
    finally:
        client.close()


if __name__ == "__main__":
    main()
