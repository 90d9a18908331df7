// A sink's table as a template: parsed once (every mistake found at config load),
// resolved per topic from the topic's name and the pattern's capture groups.

#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "connector/table_template.h"

using kps::QualifiedName;
using kps::TableTemplate;

namespace {

TableTemplate parsed(const std::string& text, const std::string& pattern) {
  auto result = TableTemplate::parse(text, pattern);
  if (const std::string* why = std::get_if<std::string>(&result)) FAIL("unexpected problem: " << *why);
  return std::get<TableTemplate>(std::move(result));
}

std::string problem_of(const std::string& text, const std::string& pattern) {
  auto result = TableTemplate::parse(text, pattern);
  if (const std::string* why = std::get_if<std::string>(&result)) return *why;
  FAIL("expected a problem for " << text);
  return {};
}

QualifiedName resolved(const TableTemplate& table, const std::string& topic) {
  auto result = table.resolve(topic);
  if (const std::string* why = std::get_if<std::string>(&result)) FAIL("unexpected problem: " << *why);
  return std::get<QualifiedName>(result);
}

}  // namespace

TEST_CASE("a capture group of the topic pattern fills the table name") {
  const TableTemplate table = parsed("public.{1}", "^app\\.(.*)$");
  CHECK(table.has_placeholders());
  CHECK(resolved(table, "app.users") == QualifiedName{"public", "users"});
  CHECK(resolved(table, "app.orders") == QualifiedName{"public", "orders"});
}

TEST_CASE("several groups and literal text combine in schema and name") {
  const TableTemplate table = parsed("{1}_raw.t_{2}", "^([a-z]+)\\.([a-z]+)$");
  CHECK(resolved(table, "shop.items") == QualifiedName{"shop_raw", "t_items"});
}

TEST_CASE("{topic} is the whole topic name, its dots staying inside the table name") {
  const TableTemplate table = parsed("public.{topic}", "^app\\..*$");
  CHECK(resolved(table, "app.users") == QualifiedName{"public", "app.users"});
  const TableTemplate unqualified = parsed("{topic}", "");
  CHECK(resolved(unqualified, "events") == QualifiedName{"", "events"});
}

TEST_CASE("{{ and }} are literal braces") {
  const TableTemplate table = parsed("t{{{1}}}", "^x(.)$");
  CHECK(resolved(table, "xa") == QualifiedName{"", "t{a}"});
  const TableTemplate plain = parsed("a{{b}}", "");
  CHECK_FALSE(plain.has_placeholders());
  CHECK(resolved(plain, "whatever") == QualifiedName{"", "a{b}"});
}

TEST_CASE("the pattern must match the whole topic, as topic_pattern does for routing") {
  const TableTemplate table = parsed("{1}", "app\\.(.*)");
  const auto result = table.resolve("myapp.users");
  REQUIRE(std::holds_alternative<std::string>(result));
  CHECK(std::get<std::string>(result).find("does not match") != std::string::npos);
}

TEST_CASE("a resolved name that is empty or longer than 63 bytes is a problem, not a truncated table") {
  const TableTemplate table = parsed("s.{1}", "^app\\.(.*)$");
  const auto empty = table.resolve("app.");
  REQUIRE(std::holds_alternative<std::string>(empty));
  CHECK(std::get<std::string>(empty).find("empty name") != std::string::npos);
  const auto long_name = table.resolve("app." + std::string(64, 'x'));
  REQUIRE(std::holds_alternative<std::string>(long_name));
  CHECK(std::get<std::string>(long_name).find("at most 63 bytes") != std::string::npos);
}

TEST_CASE("a group beyond the pattern's group count is a problem") {
  CHECK(problem_of("{3}", "^(a)(b)$") == "uses {3} but topic_pattern has 2 capture groups");
  CHECK(problem_of("{1}", "^ab$") == "uses {1} but topic_pattern has 0 capture groups");
}

TEST_CASE("a group without a pattern is a problem") {
  CHECK(problem_of("x_{1}", "").find("the sink names a topic, not a topic_pattern") != std::string::npos);
}

TEST_CASE("an unknown placeholder or an unbalanced brace is a problem") {
  CHECK(problem_of("{name}", "^(a)$").find("unknown placeholder {name}") != std::string::npos);
  CHECK(problem_of("{0}", "^(a)$").find("unknown placeholder {0}") != std::string::npos);
  CHECK(problem_of("t_{1", "^(a)$").find("unbalanced '{'") != std::string::npos);
  CHECK(problem_of("t_{{1}", "^(a)$").find("unbalanced '}'") != std::string::npos);
  CHECK(problem_of("t_}", "^(a)$").find("unbalanced '}'") != std::string::npos);
  CHECK(problem_of("{1{2}}", "^(a)(b)$").find("unbalanced '{'") != std::string::npos);
}

TEST_CASE("more than one dot or an empty part is a problem") {
  CHECK(problem_of("a.b.{1}", "^(a)$").find("with one dot") != std::string::npos);
  CHECK(problem_of(".{1}", "^(a)$").find("empty schema or table name") != std::string::npos);
}
