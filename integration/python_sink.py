#!/usr/bin/python3
"""The benchmark's Python baseline: a Kafka -> PostgreSQL sink written the way popular guides
teach it, so that integration/benchmark.sh can say how kafka-pg-sink compares with what a team
would write in an afternoon.

  python_sink.py --bootstrap B --topic T --group G --dsn postgresql://... --table TABLE
                 --mode insert|upsert [--batch-size 5000]

What it does, and deliberately nothing more (the guides' shape, not a tuned loader):
  - a confluent-kafka Consumer, enable.auto.commit false, auto.offset.reset earliest, subscribed
    to the topic; consume(num_messages=5000) gives the batch;
  - each value parsed with the json module into the benchmark table's 6 columns, converted to
    the Python types asyncpg's binary codecs take (datetime for timestamptz, text for jsonb);
  - one PostgreSQL transaction per batch with asyncpg: insert is copy_records_to_table into the
    table; upsert is copy_records_to_table into a temp table (ON COMMIT DROP) and one
    INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE (the benchmark's keys never repeat within
    a batch, so no reduction to one row per key);
  - after each transaction commits, the consumer's positions are committed to Kafka,
    synchronously. That is at-least-once, not exactly-once: a crash between the two replays
    the batch (harmless for upsert, a duplicate-key error for insert).

It stops once caught up, as the daemon's --until-caught-up does: at start it reads the high
watermark of every partition of the topic and exits 0 once every record below them has been
written and its offset committed. Log lines start with a UTC timestamp, and the benchmark reads
the first "partition(s) assigned" line the way it reads the daemon's. Exit 1 on any error.
"""

import argparse
import asyncio
import datetime
import json
import sys

from confluent_kafka import Consumer, KafkaException, TopicPartition
import asyncpg

COLUMNS = ("id", "device", "ts", "temperature", "site", "attrs")


def log(message):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    print(f"{stamp} info {message}", flush=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--dsn", required=True, help="a postgresql:// URI (asyncpg takes no key=value DSN)")
    parser.add_argument("--table", required=True, help="a table in the search path, without schema")
    parser.add_argument("--mode", choices=("insert", "upsert"), required=True)
    parser.add_argument("--batch-size", type=int, default=5000)
    return parser.parse_args()


def to_row(value):
    """One record's JSON value -> the tuple copy_records_to_table wants, in COLUMNS order."""
    record = json.loads(value)
    return (
        record["id"],
        record["device"],
        datetime.datetime.fromisoformat(record["ts"]),
        float(record["temperature"]),
        record["site"],
        json.dumps(record["attrs"]),
    )


def high_watermarks(consumer, topic):
    """partition -> high watermark at start: the records this run must write."""
    metadata = consumer.list_topics(topic, timeout=30)
    partitions = metadata.topics[topic].partitions
    if not partitions:
        raise RuntimeError(f"topic {topic} has no partitions")
    marks = {}
    for partition in partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        marks[partition] = high
    return marks


async def write_batch(conn, args, rows):
    async with conn.transaction():
        if args.mode == "insert":
            await conn.copy_records_to_table(args.table, records=rows, columns=COLUMNS)
        else:
            await conn.execute(f"CREATE TEMP TABLE stage (LIKE {args.table} INCLUDING DEFAULTS) ON COMMIT DROP")
            await conn.copy_records_to_table("stage", records=rows, columns=COLUMNS)
            updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in COLUMNS if column != "id")
            await conn.execute(
                f"INSERT INTO {args.table} ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM stage "
                f"ON CONFLICT (id) DO UPDATE SET {updates}"
            )


async def run(args):
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": args.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    conn = await asyncpg.connect(args.dsn)
    try:
        marks = high_watermarks(consumer, args.topic)
        # next offset to write, per partition; a partition is done once it reaches its mark.
        written_to = {partition: 0 for partition in marks}
        pending = {partition for partition, high in marks.items() if high > 0}

        def on_assign(_consumer, partitions):
            log(f"rebalance: {len(partitions)} partition(s) assigned")

        consumer.subscribe([args.topic], on_assign=on_assign)
        rows_written = 0
        batches = 0
        while pending:
            messages = consumer.consume(num_messages=args.batch_size, timeout=1.0)
            if not messages:
                continue
            rows = []
            for message in messages:
                if message.error():
                    raise KafkaException(message.error())
                rows.append(to_row(message.value()))
                written_to[message.partition()] = message.offset() + 1
            await write_batch(conn, args, rows)
            consumer.commit(asynchronous=False)
            batches += 1
            if batches == 1:
                log(f"first commit: {len(rows)} rows")
            rows_written += len(rows)
            pending = {partition for partition in pending if written_to[partition] < marks[partition]}
        log(f"caught up: {rows_written} rows in {batches} transactions")
    finally:
        await conn.close()
        consumer.close()


def main():
    args = parse_args()
    try:
        asyncio.run(run(args))
    except Exception as error:  # one line for the benchmark's log, then a failing exit
        log(f"error: {type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
