// The decoder's one pass over a record: the tree of wanted paths it walks, and what the
// walk hands each column (nested pointers, repeated and escaped member names, values
// kept across records of different sizes).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "connector/decoder.h"
#include "connector/wanted_paths.h"
#include "tests/test_support.h"

namespace kps {
namespace {

using kps::testing::column;
using kps::testing::record_with;
using kps::testing::sink_with;

/// Field `index` of the tuple written from `begin` in `buffer`; "NULL" for NULL.
std::string field_of(const CopyBuffer& buffer, size_t begin, int index) {
  const auto field = tuple_field(buffer.view().substr(begin), index);
  return field ? std::string(*field) : std::string("NULL");
}

std::string bigint_bytes(int64_t value) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i) {
    bytes[static_cast<size_t>(i)] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return bytes;
}

/// Decodes `json` with `sink`; REQUIREs success and returns the tuple.
std::string decode_ok(const SinkConfig& sink, const std::string& json) {
  Decoder decoder(sink);
  CopyBuffer buffer;
  const auto error = decoder.decode_value(record_with(json), buffer);
  INFO((error ? error->column + ": " + error->reason : std::string()));
  REQUIRE_FALSE(error.has_value());
  return std::string(buffer.view());
}

std::string field(const std::string& tuple, int index) {
  const auto value = tuple_field(tuple, index);
  return value ? std::string(*value) : std::string("NULL");
}

}  // namespace

TEST_CASE("wanted paths share the nodes of a common prefix and keep every slot that ends at a node") {
  WantedPaths paths;
  paths.add(parse_json_pointer("/payload/after/id"), 0);
  paths.add(parse_json_pointer("/payload/after/name"), 1);
  paths.add(parse_json_pointer("/payload/op"), 2);
  paths.add(parse_json_pointer("/payload/after/id"), 3);  // a dedup field reading a column's value
  paths.add(parse_json_pointer(""), 4);                   // the whole record

  CHECK(paths.slot_count() == 5);
  CHECK(paths.node_count() == 6);  // root, payload, after, id, name, op
  REQUIRE(paths.root().children.size() == 1);
  CHECK(paths.root().slots == std::vector<uint32_t>{4});
  const WantedPaths::Node& payload = paths.node(paths.root().children[0].node);
  REQUIRE(payload.children.size() == 2);
  CHECK(payload.children[0].token.key == "after");
  CHECK(payload.children[1].token.key == "op");
  const WantedPaths::Node& after = paths.node(payload.children[0].node);
  REQUIRE(after.children.size() == 2);
  CHECK(paths.node(after.children[0].node).slots == std::vector<uint32_t>{0, 3});
  CHECK(paths.node(after.children[1].node).slots == std::vector<uint32_t>{1});
}

TEST_CASE("wanted paths unescape pointer tokens and mark the tokens that can index an array") {
  WantedPaths paths;
  paths.add(parse_json_pointer("/a~1b/0/m~0n/01"), 0);
  const WantedPaths::Child& first = paths.root().children.at(0);
  CHECK(first.token.key == "a/b");
  CHECK_FALSE(first.token.array_index.has_value());
  const WantedPaths::Child& second = paths.node(first.node).children.at(0);
  CHECK(second.token.array_index == size_t{0});
  const WantedPaths::Child& third = paths.node(second.node).children.at(0);
  CHECK(third.token.key == "m~n");
  const WantedPaths::Child& fourth = paths.node(third.node).children.at(0);
  CHECK(fourth.token.key == "01");
  CHECK_FALSE(fourth.token.array_index.has_value());  // a leading zero is a member name only
  CHECK_THROWS(parse_json_pointer("no-slash"));
  CHECK_THROWS(parse_json_pointer("/a~2"));
}

TEST_CASE("one pass hands nested members to every column below a shared prefix, and their container as written") {
  const SinkConfig sink = sink_with({
      column("id", "/payload/after/id", ColumnType::BigInt),
      column("name", "/payload/after/name", ColumnType::Text),
      column("op", "/payload/op", ColumnType::Text),
      column("after", "/payload/after", ColumnType::Json),
      column("second", "/payload/list/1", ColumnType::BigInt),
      column("list", "/payload/list", ColumnType::Json),
  });
  const std::string tuple = decode_ok(sink, R"({"schema": {"fields": [{"id": "ignored"}]},
      "payload": {"before": null, "after": { "id": 7, "name": "n\u00e9" } ,
                  "list": [1, 2 , {"x": [3]}] , "op": "c"}})");
  CHECK(field(tuple, 0) == bigint_bytes(7));
  CHECK(field(tuple, 1) == "n\xc3\xa9");
  CHECK(field(tuple, 2) == "c");
  CHECK(field(tuple, 3) == R"({ "id": 7, "name": "n\u00e9" })");
  CHECK(field(tuple, 4) == bigint_bytes(2));
  CHECK(field(tuple, 5) == R"([1, 2 , {"x": [3]}])");
}

TEST_CASE("a pointer whose prefix is a scalar finds no value") {
  const SinkConfig nullable = sink_with({column("deep", "/a/b/c", ColumnType::BigInt, true),
                                         column("a", "/a", ColumnType::Text)});
  const std::string tuple = decode_ok(nullable, R"({"a": "scalar"})");
  CHECK(field(tuple, 0) == "NULL");
  CHECK(field(tuple, 1) == "scalar");
  const SinkConfig through_array = sink_with({column("deep", "/a/b", ColumnType::BigInt, true)});
  CHECK(field(decode_ok(through_array, R"({"a": [{"b": 1}]})"), 0) == "NULL");  // "b" is not an index

  const SinkConfig required = sink_with({column("deep", "/a/b", ColumnType::BigInt)});
  Decoder decoder(required);
  CopyBuffer buffer;
  const auto error = decoder.decode_value(record_with(R"({"a": 5})"), buffer);
  REQUIRE(error.has_value());
  CHECK(error->column == "deep");
  CHECK(error->reason == "missing non-nullable value");
  CHECK(error->failure == DecodeFailure::MissingValue);
}

TEST_CASE("a member named twice in one object is read from its first occurrence") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt),
                                     column("y", "/p/y", ColumnType::BigInt, true),
                                     column("x", "/p/x", ColumnType::BigInt, true)});
  const std::string tuple = decode_ok(sink, R"({"id": 1, "p": {"x": 10}, "id": 2, "p": {"y": 20, "x": 30}})");
  CHECK(field(tuple, 0) == bigint_bytes(1));
  CHECK(field(tuple, 1) == "NULL");  // the second "p" is never read, so its "y" is not either
  CHECK(field(tuple, 2) == bigint_bytes(10));

  // The dedup identity follows the same rule.
  SinkConfig dedup = sink_with({column("id", "/id", ColumnType::BigInt)});
  dedup.dedup = DedupConfig{{"/event"}, std::chrono::seconds(60)};
  Decoder decoder(dedup);
  CopyBuffer buffer;
  std::string first;
  std::string second;
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id": 1, "event": "a", "event": "b"})"), buffer, &first));
  REQUIRE_FALSE(decoder.decode_value(record_with(R"({"id": 1, "event": "a"})"), buffer, &second));
  CHECK(first == second);
}

TEST_CASE("a member name is matched as written in the record, so an escaped spelling is another name") {
  const SinkConfig sink = sink_with({column("ab", "/ab", ColumnType::BigInt, true),
                                     column("quote", "/q\\\"k", ColumnType::BigInt, true)});
  // "a\u0062" unescapes to "ab", but lookups compare the written name, as simdjson's find_field does.
  CHECK(field(decode_ok(sink, R"({"a\u0062": 1})"), 0) == "NULL");
  CHECK(field(decode_ok(sink, R"({"a\u0062": 1, "ab": 2})"), 0) == bigint_bytes(2));
  CHECK(field(decode_ok(sink, R"({"q\"k": 3})"), 1) == bigint_bytes(3));  // the pointer spells the escape

  // A name's escapes are still checked although no pointer reads it.
  Decoder decoder(sink);
  CopyBuffer buffer;
  const auto error = decoder.decode_value(record_with(R"({"a\x": 1})"), buffer);
  REQUIRE(error.has_value());
  CHECK(error->failure == DecodeFailure::InvalidJson);
  CHECK(error->column.empty());
}

TEST_CASE("missing optional members are NULL and the columns keep their configured order") {
  const SinkConfig sink = sink_with({column("c", "/c", ColumnType::Text, true), column("a", "/a", ColumnType::BigInt),
                                     column("n", "/nested/missing", ColumnType::Text, true),
                                     column("b", "/b", ColumnType::Text, true)});
  const std::string tuple = decode_ok(sink, R"({"b": null, "a": 5, "nested": {}})");
  CHECK(field(tuple, 0) == "NULL");
  CHECK(field(tuple, 1) == bigint_bytes(5));
  CHECK(field(tuple, 2) == "NULL");
  CHECK(field(tuple, 3) == "NULL");
}

TEST_CASE("a value off every wanted path that is broken JSON makes the whole record invalid") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt)});
  Decoder decoder(sink);
  CopyBuffer buffer;
  for (const char* json : {R"({"id": 1, "x": [1, tru]})", R"({"id": 1, "x": {"y": 01}})",
                           R"({"id": 1, "x": "\ud800"})", R"({"id": 1} {"id": 2})"}) {
    INFO(json);
    const auto error = decoder.decode_value(record_with(json), buffer);
    REQUIRE(error.has_value());
    CHECK(error->failure == DecodeFailure::InvalidJson);
    CHECK(buffer.size() == 0);
  }
}

TEST_CASE("a 2 MB record decodes whole, its long text and a member after it included") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt), column("big", "/big", ColumnType::Text),
                                     column("tail", "/tail/v", ColumnType::Jsonb)});
  const std::string big(2 * 1024 * 1024, 'x');
  const std::string tuple = decode_ok(sink, R"({"id": 9, "skipped": [")" + big + R"("], "big": ")" + big +
                                                R"(", "tail": {"v": [1, 2]}})");
  CHECK(field(tuple, 0) == bigint_bytes(9));
  CHECK(field(tuple, 1) == big);
  CHECK(field(tuple, 2) == "\x01[1, 2]");
}

TEST_CASE("records decoded one after another with different lengths keep their own values") {
  const SinkConfig sink = sink_with({column("id", "/id", ColumnType::BigInt), column("name", "/name", ColumnType::Text),
                                     column("doc", "/doc", ColumnType::Json),
                                     column("opt", "/opt", ColumnType::Text, true)});
  Decoder decoder(sink);
  CopyBuffer buffer;
  const std::string long_name(5000, 'L');
  const std::string first = R"({"id": 1, "name": ")" + long_name + R"(", "doc": {"k": ")" + long_name +
                            R"("}, "opt": "present"})";
  const std::string second = R"({"doc": [2], "name": "s", "id": 2})";
  const std::string third = R"({"id": 3, "name": "t\"3", "doc": {"k": 3}})";
  const size_t first_begin = buffer.size();
  REQUIRE_FALSE(decoder.decode_value(record_with(first), buffer).has_value());
  const size_t second_begin = buffer.size();
  REQUIRE_FALSE(decoder.decode_value(record_with(second), buffer).has_value());
  const size_t third_begin = buffer.size();
  REQUIRE_FALSE(decoder.decode_value(record_with(third), buffer).has_value());

  CHECK(field_of(buffer, first_begin, 0) == bigint_bytes(1));
  CHECK(field_of(buffer, first_begin, 1) == long_name);
  CHECK(field_of(buffer, first_begin, 2) == R"({"k": ")" + long_name + R"("})");
  CHECK(field_of(buffer, first_begin, 3) == "present");
  CHECK(field_of(buffer, second_begin, 0) == bigint_bytes(2));
  CHECK(field_of(buffer, second_begin, 1) == "s");
  CHECK(field_of(buffer, second_begin, 2) == "[2]");
  CHECK(field_of(buffer, second_begin, 3) == "NULL");  // not the previous record's "present"
  CHECK(field_of(buffer, third_begin, 1) == "t\"3");
  CHECK(field_of(buffer, third_begin, 2) == R"({"k": 3})");
}

}  // namespace kps
