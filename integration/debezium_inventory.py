#!/usr/bin/env python3
"""Generates a Debezium change stream of a small inventory database, and the state replication
must end with.

The stream is what Debezium's PostgreSQL connector (JSON converter, decimal.handling.mode=precise,
time.precision.mode=adaptive, REPLICA IDENTITY DEFAULT) emits for three tables, to the topics
dbserver1.inventory.<table>:

  customers(id int PK, first_name text, last_name text, email text, notes text, created_at timestamptz)
      gains `phone text` mid-stream (schema evolution)
  products(id int PK, name text, description text, weight double precision, price numeric(10,2),
           released date)
  orders(order_number int PK, order_date date, purchaser int, quantity int, product_id int,
         shipped_at timestamp)

Events, in source order: snapshot reads (op r), then creates, updates (some leaving a TOASTed
notes/description unchanged, which Debezium sends as `__debezium_unavailable_value`), deletes
each followed by a tombstone, one primary-key change (delete of the old key, tombstone, create of
the new key), `phone` appearing on customers, a truncate of orders (op t, null key) and orders
created after it.

Output directory (--out):
  topics.txt                      `TOPIC:PARTITIONS` per line (for lib.sh's start_kafka)
  records/TOPIC.PARTITION.tsv     `KEY<TAB>VALUE` per record, in offset order, for lib.sh's
                                  `produce TOPIC PARTITION` (kcat -Z: an empty key is a null key,
                                  an empty value a tombstone)
  expected/TABLE.csv              the final rows, as `COPY (SELECT <columns> ORDER BY <pk>) TO
                                  STDOUT CSV` prints them from a database in the UTC time zone
  expected/TABLE.columns          <columns> of that query, comma-separated
  expected/TABLE.pk               the primary key column
  expected/TABLE.types            `COLUMN<TAB>TYPE` per column, TYPE as format_type(atttypid, NULL)
  expected/metrics.txt            `NAME{LABELS} VALUE` the daemon's counters must show after one
                                  clean pass over the stream (tables named replica.TABLE)
  expected/summary.txt            what the stream holds, for the test's log
  ddl.sql                         CREATE TABLE statements for schema `replica` (the test uses them
                                  with --schemas off, where the daemon cannot create tables)

With --schemas off the expected customers table has no `phone`: without the schema wrapper the
daemon cannot add a column (it ignores the field and counts it), so the test pre-creates the
tables from ddl.sql, which stops at the columns the source had before `phone` appeared.

--self-test replays the generated stream through an independent reader (it decodes the JSON the
way the contract says the daemon must) under many partition interleavings, checks that it ends
with the expected state, that the stream holds every feature above, and that the reader
notices when TOAST placeholders or the truncate are mishandled (so the check can fail).

Standard library only.
"""

import argparse
import base64
import csv
import datetime
import io
import json
import os
import random
import shutil
import sys
import tempfile
import zlib

SERVER = "dbserver1"
DATABASE = "inventory"
UNAVAILABLE = "__debezium_unavailable_value"
EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1)

# Partitions of each topic. orders has one: a truncate event has no key, so on a topic with
# several partitions Debezium cannot order it against the table's other events (its docs say
# so), and no replica could end exact.
PARTITIONS = {"customers": 2, "products": 2, "orders": 1}
TABLES = ("customers", "products", "orders")


# ---------------------------------------------------------------------------------------------
# Columns: their Kafka Connect schema (as Debezium writes it) and how PostgreSQL prints them


class Column:
    def __init__(self, name, connect_type, pg_type, optional=True, semantic=None, parameters=None):
        self.name = name
        self.connect_type = connect_type
        self.pg_type = pg_type
        self.optional = optional
        self.semantic = semantic
        self.parameters = parameters

    def schema(self):
        field = {"type": self.connect_type, "optional": self.optional}
        if self.semantic:
            field["name"] = self.semantic
            field["version"] = 1
        if self.parameters:
            field["parameters"] = self.parameters
        field["field"] = self.name
        return field


CUSTOMER_COLUMNS = [
    Column("id", "int32", "integer", optional=False),
    Column("first_name", "string", "text", optional=False),
    Column("last_name", "string", "text", optional=False),
    Column("email", "string", "text", optional=False),
    Column("notes", "string", "text"),
    Column("created_at", "string", "timestamptz", semantic="io.debezium.time.ZonedTimestamp"),
]
PHONE = Column("phone", "string", "text")
PRODUCT_COLUMNS = [
    Column("id", "int32", "integer", optional=False),
    Column("name", "string", "text", optional=False),
    Column("description", "string", "text"),
    Column("weight", "double", "double precision"),
    Column("price", "bytes", "numeric(10,2)", semantic="org.apache.kafka.connect.data.Decimal",
           parameters={"scale": "2", "connect.decimal.precision": "10"}),
    Column("released", "int32", "date", semantic="io.debezium.time.Date"),
]
ORDER_COLUMNS = [
    Column("order_number", "int32", "integer", optional=False),
    Column("order_date", "int32", "date", optional=False, semantic="io.debezium.time.Date"),
    Column("purchaser", "int32", "integer", optional=False),
    Column("quantity", "int32", "integer", optional=False),
    Column("product_id", "int32", "integer", optional=False),
    Column("shipped_at", "int64", "timestamp", semantic="io.debezium.time.MicroTimestamp"),
]
PRIMARY_KEY = {"customers": "id", "products": "id", "orders": "order_number"}
# PostgreSQL's name of each type, as format_type(atttypid, NULL) prints it (no typmod: a table
# created from the schema may hold numeric or numeric(10,2), both are right).
FORMAT_TYPE = {"integer": "integer", "text": "text", "timestamptz": "timestamp with time zone",
               "double precision": "double precision", "numeric(10,2)": "numeric", "date": "date",
               "timestamp": "timestamp without time zone"}


# Source values are kept as Python values (int, str, float, decimal cents as int,
# datetime.date, datetime.datetime); these turn them into Debezium's JSON encoding ...


def decimal_bytes(cents):
    """org.apache.kafka.connect.data.Decimal: the unscaled value, big-endian two's complement,
    base64 in JSON."""
    length = max(1, (cents.bit_length() + 8) // 8)
    return base64.b64encode(cents.to_bytes(length, "big", signed=True)).decode("ascii")


def encode_value(column, value, schemas):
    if value is None or value == UNAVAILABLE:
        return value
    kind = column.pg_type
    if kind == "timestamptz":
        # io.debezium.time.ZonedTimestamp: ISO-8601 in UTC, fraction without trailing zeros.
        return iso_fraction(value.strftime("%Y-%m-%dT%H:%M:%S"), value.microsecond) + "Z"
    if kind == "date":
        return (value - EPOCH_DATE).days
    if kind == "timestamp":
        delta = value - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
    if kind == "numeric(10,2)":
        # Without the schema the scale of Decimal bytes is unknown: such a stream is produced
        # with decimal.handling.mode=string, which sends the number as text.
        return decimal_bytes(value) if schemas else cents_text(value)
    return value


# ... and into what psql's COPY ... TO STDOUT CSV prints (time zone UTC).


def iso_fraction(text, microsecond):
    if microsecond == 0:
        return text
    return text + ("." + "%06d" % microsecond).rstrip("0")


def cents_text(cents):
    sign = "-" if cents < 0 else ""
    return "%s%d.%02d" % (sign, abs(cents) // 100, abs(cents) % 100)


def pg_text(column, value):
    kind = column.pg_type
    if kind == "timestamptz":
        return iso_fraction(value.strftime("%Y-%m-%d %H:%M:%S"), value.microsecond) + "+00"
    if kind == "timestamp":
        return iso_fraction(value.strftime("%Y-%m-%d %H:%M:%S"), value.microsecond)
    if kind == "date":
        return value.isoformat()
    if kind == "numeric(10,2)":
        return cents_text(value)
    if kind == "double precision":
        # PostgreSQL 12+ prints the shortest text that reads back exactly, as Python's repr
        # does; they differ only in how an integral value ends (and in exponents, avoided here).
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def csv_field(text):
    """One field as PostgreSQL's CSV output writes it: NULL is nothing, the empty string is
    quoted, and so is anything holding the delimiter, a quote, CR or LF."""
    if text is None:
        return ""
    if text == "" or any(c in text for c in ',"\r\n') or text == "\\.":
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_text(columns, rows):
    """The rows (primary key -> row) in primary-key order, one CSV line each."""
    lines = []
    for key in sorted(rows):
        fields = [None if rows[key].get(c.name) is None else pg_text(c, rows[key][c.name]) for c in columns]
        lines.append(",".join(csv_field(f) for f in fields) + "\n")
    return "".join(lines)


# ---------------------------------------------------------------------------------------------
# The source database and the stream it produces


class Generator:
    def __init__(self, seed, schemas, events):
        self.random = random.Random(seed)
        self.schemas = schemas
        self.events = max(events, 40)
        self.rows = {table: {} for table in TABLES}   # the source database
        self.records = {(t, p): [] for t in TABLES for p in range(PARTITIONS[t])}
        self.columns = {"customers": list(CUSTOMER_COLUMNS), "products": list(PRODUCT_COLUMNS),
                        "orders": list(ORDER_COLUMNS)}
        self.ops = {table: {op: 0 for op in "crudtm"} for table in TABLES}
        self.tombstones = 0
        self.toasted_updates = {table: 0 for table in TABLES}
        self.phone_fields = 0          # row images carrying `phone`: what the daemon ignores without a schema
        self.pk_changes = []
        self.tx_id = 500
        self.lsn = 24023128
        self.clock_ms = 1764849600000  # 2025-12-04T12:00:00Z, advancing with every event
        self.next_id = {"customers": 1001, "products": 101, "orders": 10001}
        self.phone_added = False
        self.truncated = False

    # --- values --------------------------------------------------------------------------------

    WORDS = ("red", "blue", "hammer", "scooter", "car", "battery", "rope", "spare", "weight",
             "deluxe", "travel", "box", "sunglasses", "jacket", "twelve-pack", "rocks")
    FIRST = ("Sally", "George", "Edward", "Anne", "Zoë", "Jürgen", "O'Brien", "Mary-Kate")
    LAST = ("Thomas", "Bailey", "Walker", "Kretchmar", "Müller", "Smith, Jr.", 'Quote"d')

    def text(self, words):
        return " ".join(self.random.choice(self.WORDS) for _ in range(words))

    def long_text(self):
        """A value big enough that PostgreSQL stores it out of line (TOAST, over ~2 kB)."""
        body = self.text(400)
        # A comma, a quote and a line break, for the CSV comparison.
        return 'Notes, "quoted", line one\nline two: ' + body

    def timestamp(self):
        base = datetime.datetime(2025, 1, 1) + datetime.timedelta(seconds=self.random.randrange(0, 30000000))
        return base.replace(microsecond=self.random.choice((0, 500000, 123000, 654321, 10)))

    def new_customer(self, key):
        row = {"id": key, "first_name": self.random.choice(self.FIRST),
               "last_name": self.random.choice(self.LAST), "email": "c%d@example.com" % key,
               "notes": self.long_text() if self.random.random() < 0.6 else self.random.choice((None, "short note")),
               "created_at": self.timestamp()}
        if self.phone_added:
            row["phone"] = self.phone()
        return row

    def phone(self):
        return self.random.choice((None, "+1-555-%04d" % self.random.randrange(10000)))

    def new_product(self, key):
        return {"id": key, "name": self.text(2),
                "description": self.long_text() if self.random.random() < 0.6 else self.text(3),
                "weight": self.random.randrange(100, 99999) / 1000.0,
                "price": self.random.choice((-1, 1)) * self.random.randrange(1, 10000000) if key % 7 == 0
                else self.random.randrange(1, 10000000),
                "released": EPOCH_DATE + datetime.timedelta(days=self.random.randrange(15000, 21000))}

    def new_order(self, key):
        shipped = self.timestamp() if self.random.random() < 0.8 else None
        return {"order_number": key,
                "order_date": EPOCH_DATE + datetime.timedelta(days=self.random.randrange(19000, 21000)),
                "purchaser": self.random.randrange(1001, 1010), "quantity": self.random.randrange(1, 10),
                "product_id": self.random.randrange(101, 110), "shipped_at": shipped}

    # --- records -------------------------------------------------------------------------------

    def key_json(self, table, key):
        name = PRIMARY_KEY[table]
        payload = {name: key}
        if not self.schemas:
            return payload
        return {"schema": {"type": "struct", "fields": [{"type": "int32", "optional": False, "field": name}],
                           "optional": False, "name": "%s.%s.%s.Key" % (SERVER, DATABASE, table)},
                "payload": payload}

    def value_schema(self, table):
        row = {"type": "struct", "fields": [c.schema() for c in self.columns[table]], "optional": True,
               "name": "%s.%s.%s.Value" % (SERVER, DATABASE, table)}
        source = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source",
                  "field": "source", "fields": [
                      {"type": "string", "optional": False, "field": "version"},
                      {"type": "string", "optional": False, "field": "connector"},
                      {"type": "string", "optional": False, "field": "name"},
                      {"type": "int64", "optional": False, "field": "ts_ms"},
                      {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
                       "parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,"
                                                 "last,false,incremental"},
                       "default": "false", "field": "snapshot"},
                      {"type": "string", "optional": False, "field": "db"},
                      {"type": "string", "optional": True, "field": "sequence"},
                      {"type": "int64", "optional": True, "field": "ts_us"},
                      {"type": "int64", "optional": True, "field": "ts_ns"},
                      {"type": "string", "optional": False, "field": "schema"},
                      {"type": "string", "optional": False, "field": "table"},
                      {"type": "int64", "optional": True, "field": "txId"},
                      {"type": "int64", "optional": True, "field": "lsn"},
                      {"type": "int64", "optional": True, "field": "xmin"}]}
        transaction = {"type": "struct", "optional": True, "name": "event.block", "version": 1,
                       "field": "transaction", "fields": [
                           {"type": "string", "optional": False, "field": "id"},
                           {"type": "int64", "optional": False, "field": "total_order"},
                           {"type": "int64", "optional": False, "field": "data_collection_order"}]}
        return {"type": "struct", "optional": False, "name": "%s.%s.%s.Envelope" % (SERVER, DATABASE, table),
                "version": 2, "fields": [
                    dict(row, field="before"), dict(row, field="after"), source,
                    {"type": "string", "optional": False, "field": "op"},
                    {"type": "int64", "optional": True, "field": "ts_ms"},
                    {"type": "int64", "optional": True, "field": "ts_us"},
                    {"type": "int64", "optional": True, "field": "ts_ns"},
                    transaction]}

    def image(self, table, row):
        if row is None:
            return None
        return {c.name: encode_value(c, row.get(c.name), self.schemas) for c in self.columns[table]}

    def envelope(self, table, op, before, after, snapshot="false"):
        self.clock_ms += self.random.randrange(1, 50)
        self.lsn += self.random.randrange(100, 5000)
        if snapshot == "false":
            self.tx_id += 1
        payload = {
            "before": self.image(table, before), "after": self.image(table, after),
            "source": {"version": "2.7.3.Final", "connector": "postgresql", "name": SERVER,
                       "ts_ms": self.clock_ms - 3, "snapshot": snapshot, "db": "postgres",
                       "sequence": json.dumps([str(self.lsn - 8), str(self.lsn)], separators=(",", ":")),
                       "ts_us": (self.clock_ms - 3) * 1000, "ts_ns": (self.clock_ms - 3) * 1000000,
                       "schema": DATABASE, "table": table, "txId": self.tx_id, "lsn": self.lsn, "xmin": None},
            "op": op, "ts_ms": self.clock_ms, "ts_us": self.clock_ms * 1000 + 17,
            "ts_ns": self.clock_ms * 1000000 + 17123, "transaction": None}
        if not self.schemas:
            return payload
        return {"schema": self.value_schema(table), "payload": payload}

    def emit(self, table, key, value):
        """Appends one record; key None is a null key (partition 0), value None a tombstone."""
        key_text = "" if key is None else json.dumps(self.key_json(table, key), ensure_ascii=False,
                                                     separators=(",", ":"))
        value_text = "" if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        partition = 0 if key is None else zlib.crc32(str(key).encode()) % PARTITIONS[table]
        self.records[(table, partition)].append((key_text, value_text))

    def change(self, table, op, key, before, after, snapshot="false"):
        self.ops[table][op] += 1
        if table == "customers" and after is not None and "phone" in after:
            self.phone_fields += 1
        self.emit(table, key, self.envelope(table, op, before, after, snapshot))

    # --- operations on the source database ------------------------------------------------------

    def insert(self, table, snapshot=None):
        key = self.next_id[table]
        self.next_id[table] += 1
        row = {"customers": self.new_customer, "products": self.new_product, "orders": self.new_order}[table](key)
        self.rows[table][key] = row
        if snapshot is None:
            self.change(table, "c", key, None, row)
        else:
            self.change(table, "r", key, None, row, snapshot)

    def update(self, table, key, keep_toast=None):
        """Changes some columns of a row. A TOASTed column the update leaves alone arrives as the
        placeholder (REPLICA IDENTITY DEFAULT); `before` is null, as with that identity."""
        row = self.rows[table][key]
        toast_column = {"customers": "notes", "products": "description"}.get(table)
        if keep_toast is None:
            keep_toast = toast_column is not None and self.random.random() < 0.5
        if table == "customers":
            row["email"] = "c%d.%d@example.com" % (key, self.random.randrange(1000))
            if self.phone_added:
                row["phone"] = self.phone()
            if not keep_toast and self.random.random() < 0.5:
                row["notes"] = self.long_text()
        elif table == "products":
            row["weight"] = self.random.randrange(100, 99999) / 1000.0
            row["price"] = self.random.randrange(1, 10000000)
            if not keep_toast and self.random.random() < 0.5:
                row["description"] = self.text(4)
        else:
            row["quantity"] = self.random.randrange(1, 10)
            row["shipped_at"] = self.timestamp()
        after = dict(row)
        if keep_toast and toast_column and row.get(toast_column) is not None and len(row[toast_column]) > 2000:
            after[toast_column] = UNAVAILABLE
            self.toasted_updates[table] += 1
        self.change(table, "u", key, None, after)

    def delete(self, table, key):
        """A delete, then its tombstone. `before` holds the old row, its TOASTed columns as the
        placeholder (Debezium cannot read them for a delete either)."""
        row = self.rows[table].pop(key)
        before = dict(row)
        for column in ("notes", "description"):
            if before.get(column) is not None and len(before[column]) > 2000:
                before[column] = UNAVAILABLE
        self.change(table, "d", key, before, None)
        self.emit(table, key, None)
        self.tombstones += 1

    def change_key(self, table, old_key):
        """UPDATE ... SET id = new: Debezium sends a delete of the old key, its tombstone, and a
        create of the new key carrying the whole row."""
        new_key = self.next_id[table]
        self.next_id[table] += 1
        row = dict(self.rows[table][old_key])
        self.delete(table, old_key)
        row[PRIMARY_KEY[table]] = new_key
        self.rows[table][new_key] = row
        self.change(table, "c", new_key, None, row)
        self.pk_changes.append((table, old_key, new_key))

    def add_phone(self):
        """ALTER TABLE customers ADD COLUMN phone text: later events carry it (and its schema)."""
        self.columns["customers"].append(PHONE)
        self.phone_added = True
        for row in self.rows["customers"].values():
            row["phone"] = None

    def truncate_orders(self):
        self.rows["orders"].clear()
        self.ops["orders"]["t"] += 1
        self.emit("orders", None, self.envelope("orders", "t", None, None))
        self.truncated = True

    def random_event(self):
        table = self.random.choice(TABLES)
        action = self.random.random()
        keys = sorted(self.rows[table])
        if action < 0.35 or len(keys) < 3:
            self.insert(table)
        elif action < 0.85:
            self.update(table, self.random.choice(keys))
        else:
            self.delete(table, self.random.choice(keys))

    def generate(self):
        for table, count in (("customers", 6), ("products", 8), ("orders", 5)):
            for index in range(count):
                self.insert(table, snapshot="last" if index == count - 1 else "true")
        phase = self.events // 3
        for _ in range(phase):
            self.random_event()
        # What every stream must hold, whatever the seed: TOAST kept on both tables (one of
        # them right after the row's create, so it may meet it inside one batch), a delete
        # with its tombstone, a primary-key change.
        for table in ("customers", "products"):
            self.insert(table)
            key = self.next_id[table] - 1
            self.rows[table][key][{"customers": "notes", "products": "description"}[table]] = self.long_text()
            self.change(table, "u", key, None, dict(self.rows[table][key]))
            self.update(table, key, keep_toast=True)
            self.update(table, sorted(self.rows[table])[0], keep_toast=True)
        self.delete("products", sorted(self.rows["products"])[1])
        self.change_key("customers", sorted(self.rows["customers"])[2])
        self.add_phone()
        for _ in range(phase):
            self.random_event()
        some_customer = sorted(self.rows["customers"])[-1]
        self.rows["customers"][some_customer]["notes"] = self.long_text()
        self.change("customers", "u", some_customer, None, dict(self.rows["customers"][some_customer]))
        self.update("customers", some_customer, keep_toast=True)
        self.truncate_orders()
        for _ in range(3):
            self.insert("orders")
        for _ in range(self.events - 2 * phase):
            self.random_event()

    # --- output --------------------------------------------------------------------------------

    def expected_columns(self, table):
        """The columns of the replica: without a schema `phone` never becomes one."""
        return [c for c in self.columns[table] if self.schemas or c is not PHONE]

    def expected_rows(self, table):
        columns = self.expected_columns(table)
        return columns, PRIMARY_KEY[table], csv_text(columns, self.rows[table])

    def ddl(self):
        statements = ["CREATE SCHEMA IF NOT EXISTS replica;"]
        base = {"customers": CUSTOMER_COLUMNS, "products": PRODUCT_COLUMNS, "orders": ORDER_COLUMNS}
        for table in TABLES:
            columns = ",\n  ".join("%s %s%s" % (c.name, c.pg_type, "" if c.optional else " NOT NULL")
                                   for c in base[table])
            statements.append("CREATE TABLE replica.%s (\n  %s,\n  PRIMARY KEY (%s)\n);"
                              % (table, columns, PRIMARY_KEY[table]))
        return "\n".join(statements) + "\n"

    def metrics(self):
        lines = []
        for table in TABLES:
            for op in "crudt":
                lines.append('kafka_pg_sink_change_events_total{table="replica.%s",op="%s"} %d'
                             % (table, op, self.ops[table][op]))
        lines.append('kafka_pg_sink_truncates_total{table="replica.orders"} %d' % self.ops["orders"]["t"])
        # Without a schema `phone` is ignored once per row image carrying it; with one it becomes
        # a column and nothing is ignored.
        lines.append('kafka_pg_sink_ignored_fields_total{table="replica.customers"} %d'
                     % (0 if self.schemas else self.phone_fields))
        return lines

    def write(self, out):
        os.makedirs(os.path.join(out, "records"), exist_ok=True)
        os.makedirs(os.path.join(out, "expected"), exist_ok=True)
        with open(os.path.join(out, "topics.txt"), "w") as f:
            for table in TABLES:
                f.write("%s.%s.%s:%d\n" % (SERVER, DATABASE, table, PARTITIONS[table]))
        for (table, partition), records in self.records.items():
            path = os.path.join(out, "records", "%s.%s.%s.%d.tsv" % (SERVER, DATABASE, table, partition))
            with open(path, "w", encoding="utf-8") as f:
                for key, value in records:
                    f.write(key + "\t" + value + "\n")
        for table in TABLES:
            columns, pk, lines = self.expected_rows(table)
            with open(os.path.join(out, "expected", table + ".csv"), "w", encoding="utf-8", newline="") as f:
                f.write(lines)
            with open(os.path.join(out, "expected", table + ".columns"), "w") as f:
                f.write(",".join(c.name for c in columns) + "\n")
            with open(os.path.join(out, "expected", table + ".pk"), "w") as f:
                f.write(pk + "\n")
            with open(os.path.join(out, "expected", table + ".types"), "w") as f:
                f.write("".join("%s\t%s\n" % (c.name, FORMAT_TYPE[c.pg_type]) for c in columns))
        with open(os.path.join(out, "expected", "metrics.txt"), "w") as f:
            f.write("".join(line + "\n" for line in self.metrics()))
        with open(os.path.join(out, "expected", "summary.txt"), "w") as f:
            f.write(self.summary() + "\n")
        with open(os.path.join(out, "ddl.sql"), "w") as f:
            f.write(self.ddl())

    def summary(self):
        parts = []
        for table in TABLES:
            records = sum(len(self.records[(table, p)]) for p in range(PARTITIONS[table]))
            ops = " ".join("%s=%d" % (op, n) for op, n in self.ops[table].items() if n)
            parts.append("%s: %d records (%s), %d rows at the end, %d TOAST placeholder update(s)"
                         % (table, records, ops, len(self.rows[table]), self.toasted_updates[table]))
        parts.append("tombstones=%d pk_changes=%s phone_images=%d schemas=%s"
                     % (self.tombstones, self.pk_changes, self.phone_fields, "on" if self.schemas else "off"))
        return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Self-test: an independent reader replays the files, as the contract says the daemon must


class Replica:
    """Applies generated records to an in-memory table set, reading only the files' bytes:
    schema wrapper or not, semantic types decoded from the schema when there is one, else from
    the column type (as the daemon does without a schema). `keep_toast` / `apply_truncate` off
    are the mistakes the negative controls make."""

    def __init__(self, columns, keep_toast=True, apply_truncate=True):
        self.columns = columns          # table -> [Column] of the replica
        self.tables = {table: {} for table in TABLES}
        self.keep_toast = keep_toast
        self.apply_truncate = apply_truncate
        self.ignored = 0

    @staticmethod
    def unwrap(document):
        if isinstance(document, dict) and set(document) == {"schema", "payload"}:
            return document["payload"], document["schema"]
        return document, None

    def decode(self, column, raw, field_schema):
        if raw is None:
            return None
        semantic = field_schema.get("name") if field_schema else None
        if semantic == "org.apache.kafka.connect.data.Decimal":
            scale = int(field_schema["parameters"]["scale"])
            unscaled = int.from_bytes(base64.b64decode(raw), "big", signed=True)
            assert scale == 2
            return unscaled
        kind = column.pg_type
        if kind == "numeric(10,2)":
            assert isinstance(raw, str), "decimal without a schema must be a string"
            whole, _, fraction = raw.lstrip("-").partition(".")
            cents = int(whole) * 100 + int((fraction + "00")[:2])
            return -cents if raw.startswith("-") else cents
        if kind == "timestamptz":
            assert raw.endswith("Z")
            return datetime.datetime.fromisoformat(raw[:-1])
        if kind == "date":
            return EPOCH_DATE + datetime.timedelta(days=raw)
        if kind == "timestamp":
            return EPOCH + datetime.timedelta(microseconds=raw)
        return raw

    def apply(self, table, key_text, value_text):
        if value_text == "":
            return                                  # tombstone: the delete before it did the work
        payload, schema = self.unwrap(json.loads(value_text))
        op = payload["op"]
        if op == "t":
            assert key_text == ""
            if self.apply_truncate:
                self.tables[table].clear()
            return
        key, _ = self.unwrap(json.loads(key_text))
        pk = PRIMARY_KEY[table]
        if op == "d":
            self.tables[table].pop(key[pk], None)
            return
        assert op in "cru", op
        field_schemas = {}
        if schema:
            after_schema = next(f for f in schema["fields"] if f["field"] == "after")
            field_schemas = {f["field"]: f for f in after_schema["fields"]}
        known = {c.name: c for c in self.columns[table]}
        stored = self.tables[table].get(key[pk], {})
        row = {}
        for name, raw in payload["after"].items():
            if name not in known:
                self.ignored += 1
                continue
            if raw == UNAVAILABLE:
                row[name] = stored.get(name) if self.keep_toast else raw
            else:
                row[name] = self.decode(known[name], raw, field_schemas.get(name))
        assert row[pk] == key[pk], "the key names another row than the after image"
        self.tables[table][key[pk]] = row

    def csv(self, table):
        return csv_text(self.columns[table], self.tables[table])


def read_output(out):
    records = {}
    for table in TABLES:
        for partition in range(PARTITIONS[table]):
            path = os.path.join(out, "records", "%s.%s.%s.%d.tsv" % (SERVER, DATABASE, table, partition))
            with open(path, encoding="utf-8") as f:
                records[(table, partition)] = [line.rstrip("\n").split("\t", 1) for line in f]
    expected = {}
    for table in TABLES:
        with open(os.path.join(out, "expected", table + ".csv"), encoding="utf-8", newline="") as f:
            expected[table] = f.read()
    return records, expected


def interleave(records, rng):
    """All records in one order that keeps each partition's order (what a consumer may see)."""
    cursors = {tp: 0 for tp in records}
    order = []
    while True:
        open_partitions = [tp for tp in records if cursors[tp] < len(records[tp])]
        if not open_partitions:
            return order
        tp = rng.choice(open_partitions)
        order.append((tp[0],) + tuple(records[tp][cursors[tp]]))
        cursors[tp] += 1


def replay(generator, records, rng, **mistakes):
    replica = Replica({t: generator.expected_columns(t) for t in TABLES}, **mistakes)
    for table, key, value in interleave(records, rng):
        replica.apply(table, key, value)
    return replica


def self_test():
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    work = tempfile.mkdtemp(prefix="debezium-inventory-selftest.")
    try:
        # Every stream the integration tests replicate (test_debezium_inventory*.sh: seeds 1, 2
        # and 3, the last with 300 events), and a few more.
        cases = [(seed, schemas, 120) for schemas in (True, False) for seed in (1, 2, 3, 42)] + [(3, True, 300)]
        for seed, schemas, events in cases:
            label = "seed %d, schemas %s, %d events" % (seed, "on" if schemas else "off", events)
            out = os.path.join(work, "%d-%d-%d" % (seed, schemas, events))
            generator = Generator(seed, schemas, events)
            generator.generate()
            generator.write(out)
            records, expected = read_output(out)
            rng = random.Random(seed)

            # 1. Any consumer order that keeps each partition's order ends with the expected state.
            for attempt in range(20):
                replica = replay(generator, records, rng)
                for table in TABLES:
                    check(replica.csv(table) == expected[table],
                          "%s: replay %d of %s does not end with expected/%s.csv" % (label, attempt, table, table))
                check(replica.ignored == (0 if schemas else generator.phone_fields),
                      "%s: ignored fields %d" % (label, replica.ignored))

            # 2. The check can fail: a replica that writes placeholders, or skips the truncate, differs.
            check(any(replay(generator, records, rng, keep_toast=False).csv(t) != expected[t] for t in TABLES),
                  "%s: writing the TOAST placeholder does not change the outcome" % label)
            check(replay(generator, records, rng, apply_truncate=False).csv("orders") != expected["orders"],
                  "%s: ignoring the truncate does not change the outcome" % label)

            # 3. The stream holds every feature the test relies on.
            values = {t: [] for t in TABLES}
            for (table, partition), lines in records.items():
                previous = None
                for key, value in lines:
                    check("\t" not in key + value and "\n" not in key + value, "%s: tab or newline" % label)
                    if value == "":
                        check(previous is not None and previous[0] == key
                              and Replica.unwrap(json.loads(previous[1]))[0]["op"] == "d",
                              "%s: a tombstone that does not follow its delete" % label)
                    else:
                        values[table].append((key, value))
                    previous = (key, value)
            ops = {t: [Replica.unwrap(json.loads(v))[0]["op"] for _, v in values[t]] for t in TABLES}
            for table in TABLES:
                for op in "rcud":
                    check(op in ops[table], "%s: no %s event on %s" % (label, op, table))
            check(ops["orders"].count("t") == 1, "%s: one truncate of orders" % label)
            truncate_at = ops["orders"].index("t")
            check("c" in ops["orders"][truncate_at + 1:], "%s: no order created after the truncate" % label)
            orders_after = {str(Replica.unwrap(json.loads(k))[0]["order_number"])
                            for k, v in values["orders"][truncate_at + 1:]}
            expected_orders = [row[0] for row in csv.reader(io.StringIO(expected["orders"]))]
            check(len(expected_orders) > 0, "%s: no orders left at the end" % label)
            check(set(expected_orders) <= orders_after, "%s: an order from before the truncate is expected" % label)
            for table in ("customers", "products"):
                check(UNAVAILABLE in "".join(v for _, v in values[table] if '"op":"u"' in v),
                      "%s: no TOAST placeholder in an update of %s" % (label, table))
                check(UNAVAILABLE in "".join(v for _, v in values[table] if '"op":"d"' in v) or table == "products",
                      "%s: no TOAST placeholder in a delete's before of %s" % (label, table))
            check(len(generator.pk_changes) == 1, "%s: one primary-key change" % label)
            _, old_key, new_key = generator.pk_changes[0]
            customers = list(csv.reader(io.StringIO(expected["customers"])))
            ids = [row[0] for row in customers]
            check(str(new_key) in ids and str(old_key) not in ids, "%s: the primary-key change" % label)
            phone_values = [v for _, v in values["customers"] if '"phone"' in v]
            check(0 < len(phone_values) < len(values["customers"]), "%s: phone appears mid-stream" % label)
            if schemas:
                phone_column = generator.expected_columns("customers").index(PHONE)
                phones = [row[phone_column] for row in customers]
                check("" in phones and any(phones), "%s: some customers end with a phone and some without" % label)
            else:
                check(PHONE not in generator.expected_columns("customers"), "%s: phone expected" % label)

            # 4. Shapes: the envelope and, with schemas, the wrapper matching the payload.
            for table in TABLES:
                for key, value in values[table]:
                    document = json.loads(value)
                    payload, schema = Replica.unwrap(document)
                    check((schema is not None) == schemas, "%s: schema wrapper" % label)
                    check(set(payload) == {"before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns",
                                           "transaction"}, "%s: envelope fields %s" % (label, sorted(payload)))
                    check(payload["source"]["table"] == table and payload["source"]["schema"] == DATABASE,
                          "%s: source names the table" % label)
                    if payload["op"] == "t":
                        check(payload["before"] is None and payload["after"] is None and key == "",
                              "%s: truncate shape" % label)
                        continue
                    key_payload, key_schema = Replica.unwrap(json.loads(key))
                    check(list(key_payload) == [PRIMARY_KEY[table]], "%s: key fields" % label)
                    if schemas:
                        check(key_schema["name"] == "%s.%s.%s.Key" % (SERVER, DATABASE, table), "%s: key name" % label)
                        check([f["field"] for f in schema["fields"]] ==
                              ["before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"],
                              "%s: envelope schema" % label)
                        image = payload["after"] or payload["before"]
                        fields = next(f for f in schema["fields"] if f["field"] == "after")["fields"]
                        check([f["field"] for f in fields] == list(image), "%s: schema fields = image fields" % label)
                        names = {f["field"]: f.get("name") for f in fields}
                        expected_names = {"created_at": "io.debezium.time.ZonedTimestamp",
                                          "price": "org.apache.kafka.connect.data.Decimal",
                                          "released": "io.debezium.time.Date",
                                          "order_date": "io.debezium.time.Date",
                                          "shipped_at": "io.debezium.time.MicroTimestamp"}
                        for name, semantic in expected_names.items():
                            check(names.get(name, semantic) == semantic, "%s: semantic type of %s" % (label, name))

            # 5. The same seed gives the same files; another seed another stream.
            again = os.path.join(work, "again")
            shutil.rmtree(again, ignore_errors=True)
            twin = Generator(seed, schemas, events)
            twin.generate()
            twin.write(again)
            check(read_output(again) == (records, expected), "%s: not deterministic" % label)

        for schemas in (True, False):
            first, second = Generator(1, schemas, 120), Generator(2, schemas, 120)
            first.generate()
            second.generate()
            check(first.records != second.records, "seeds 1 and 2 give the same stream")

        # 6. Both modes describe one source database: the same rows, apart from phone.
        on, off = Generator(7, True, 120), Generator(7, False, 120)
        on.generate()
        off.generate()
        check(on.rows == off.rows, "the schema wrapper changes the source database")

        # 7. The formats PostgreSQL prints.
        check(pg_text(PRODUCT_COLUMNS[3], 2.0) == "2" and pg_text(PRODUCT_COLUMNS[3], 0.125) == "0.125",
              "double precision text")
        check(pg_text(CUSTOMER_COLUMNS[5], datetime.datetime(2025, 3, 1, 4, 5, 6, 120000))
              == "2025-03-01 04:05:06.12+00", "timestamptz text")
        check(cents_text(-5) == "-0.05" and cents_text(123456) == "1234.56", "numeric text")
        check(decimal_bytes(1250) == base64.b64encode(bytes([0x04, 0xe2])).decode(), "Decimal bytes of 12.50")
        check(decimal_bytes(-1) == "/w==" and decimal_bytes(128) == "AIA=", "Decimal sign byte")
        check(csv_field("") == '""' and csv_field(None) == "" and csv_field('a"b') == '"a""b"'
              and csv_field("a,b") == '"a,b"' and csv_field("plain") == "plain", "CSV quoting")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for failure in failures:
        print("FAIL " + failure)
    if failures:
        print("self-test: %d check(s) failed" % len(failures))
        return 1
    print("self-test: ok (%d streams, 20 interleavings each, negative controls fail as they must)" % len(cases))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="directory to write the records and the expected state to")
    parser.add_argument("--schemas", choices=("on", "off"), default="on",
                        help="with (on) or without (off) the {schema, payload} wrapper on keys and values")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=120,
                        help="random change events after the snapshot, besides the scripted ones (fewer than 40 count as 40)")
    parser.add_argument("--self-test", action="store_true", help="prove the generator and exit")
    arguments = parser.parse_args()
    if arguments.self_test:
        return self_test()
    if not arguments.out:
        parser.error("--out is required")
    generator = Generator(arguments.seed, arguments.schemas == "on", arguments.events)
    generator.generate()
    generator.write(arguments.out)
    print(generator.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
