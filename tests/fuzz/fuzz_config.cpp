// libFuzzer target for kps::parse_config: any document, however malformed, is either
// a Config or a ConfigError listing what is wrong. Anything else (another exception
// type, a crash, a sanitizer report, a hang) is a finding.
//
// It also checks the secret promise: when the environment variable PASSWORD (whose
// value holds a sentinel) is referenced only from secret positions (postgres.dsn and
// kafka.properties values), no problem message may show any of its value.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connector/config.h"

namespace kps {
namespace {

/// Part of every sentinel, searched for case-insensitively so that a message which
/// changed the case of the secret still counts as leaking it.
constexpr std::string_view kSentinelMarker = "ntinel";

/// Secret values chosen to provoke messages: plain, shaped like a DSN or a URI, with
/// quotes, braces, a newline, a reference of its own, and invalid UTF-8.
constexpr std::array<std::string_view, 5> kSentinels = {
    "SeNtInEl",
    "user=x password=SeNtInEl host=h",
    "postgres://u:SeNtInEl@h:5432/db",
    "Se\"NtInEl' ${OTHER} }\n: [x",
    "SeNtInEl\xff\xfe",
};

constexpr std::string_view kSecretVariable = "PASSWORD";

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_config invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

bool contains_marker(std::string_view text) {
  const auto found = std::search(text.begin(), text.end(), kSentinelMarker.begin(), kSentinelMarker.end(),
                                 [](char a, char b) {
                                   return std::tolower(static_cast<unsigned char>(a)) ==
                                          std::tolower(static_cast<unsigned char>(b));
                                 });
  return found != text.end();
}

/// Does every scalar that mentions PASSWORD sit in a secret position? Keys, tags and
/// aliases that mention it count against, which keeps the check conservative: it
/// only runs where the contract clearly forbids showing the value.
class SecretPositionCheck {
 public:
  bool only_in_secret_positions(const YAML::Node& document) {
    walk(document, {});
    return !outside_;
  }

 private:
  static bool mentions(const std::string& text) { return text.find(kSecretVariable) != std::string::npos; }

  static bool is_secret_path(const std::vector<std::string>& path) {
    if (path.size() == 2 && path[0] == "postgres" && path[1] == "dsn") return true;
    return path.size() == 3 && path[0] == "kafka" && path[1] == "properties";
  }

  void walk(const YAML::Node& node, std::vector<std::string> path) {
    if (outside_ || ++visited_ > kMaxNodes) {
      outside_ = true;  // too big to judge: skip the check rather than guess
      return;
    }
    if (mentions(node.Tag())) outside_ = true;
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        if (mentions(node.Scalar()) && !is_secret_path(path)) outside_ = true;
        return;
      case YAML::NodeType::Sequence:
        for (const YAML::Node& element : node) {
          std::vector<std::string> child = path;
          child.emplace_back("[]");
          walk(element, std::move(child));
        }
        return;
      case YAML::NodeType::Map:
        for (auto it = node.begin(); it != node.end(); ++it) {
          if (!it->first.IsScalar()) {
            walk(it->first, {"<complex key>"});
            walk(it->second, {"<complex key>"});
            continue;
          }
          if (mentions(it->first.Scalar())) outside_ = true;
          std::vector<std::string> child = path;
          child.push_back(it->first.Scalar());
          walk(it->second, std::move(child));
        }
        return;
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return;
    }
  }

  // Aliases make a document a graph whose unfolded size can explode; stop early.
  static constexpr size_t kMaxNodes = 10000;
  size_t visited_ = 0;
  bool outside_ = false;
};

/// Parses `text` the way the loader does (YAML::Load: the first document only), only
/// to locate the secret's references. nullopt when it does not parse: the loader then
/// reports a syntax error before interpolating anything, so no secret can reach a
/// message. (Not YAML::LoadAll: yaml-cpp 0.7's loops forever on some malformed input.)
std::optional<bool> secret_only_in_secret_positions(const std::string& text) {
  try {
    return SecretPositionCheck().only_in_secret_positions(YAML::Load(text));
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

void check_problems(const ConfigError& error, std::string_view sentinel, bool secret_must_not_show) {
  if (error.problems().empty()) fail("ConfigError without problems", error.what());
  for (const ConfigProblem& problem : error.problems()) {
    if (problem.message.empty()) fail("problem without a message", problem.path);
    if (secret_must_not_show && (contains_marker(problem.message) || contains_marker(problem.path))) {
      fail("a secret reached a problem message",
           "sentinel \"" + std::string(sentinel) + "\" in " + problem.path + ": " + problem.message);
    }
  }
  if (secret_must_not_show && contains_marker(error.what())) {
    fail("a secret reached ConfigError::what()", error.what());
  }
}

void run_one(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string_view sentinel = kSentinels[size % kSentinels.size()];
  const EnvLookup env = [sentinel](const std::string& name) -> std::optional<std::string> {
    if (name == kSecretVariable) return std::string(sentinel);
    if (name == "EMPTY") return std::string();
    if (name == "KAFKA_BOOTSTRAP") return std::string("127.0.0.1:9092");
    if (name == "PG_DSN") return std::string("host=127.0.0.1 dbname=postgres");
    if (name == "KAFKA_USER") return std::string("sink");
    if (name == "KAFKA_PASSWORD") return std::string("kafka-secret");
    return std::nullopt;
  };

  try {
    const Config config = parse_config(text, env);
    if (config.sinks.empty()) fail("a config without sinks was accepted", text);
    // The helpers later stages call on a loaded config must cope with whatever passed.
    // A DSN that is exactly a password-shaped sentinel holds the sentinel as its password.
    const bool password_shaped = sentinel == kSentinels[1] || sentinel == kSentinels[2];
    if (password_shaped && config.postgres.dsn == sentinel && contains_marker(redact_dsn(config.postgres.dsn))) {
      fail("redact_dsn kept the password", redact_dsn(config.postgres.dsn));
    }
    for (const SinkConfig& sink : config.sinks) {
      (void)sink_matches_topic(sink, "events.eu-1");
      (void)quote_qualified_name(sink.table);
    }
    (void)quote_qualified_name(config.postgres.offsets_table);
  } catch (const ConfigError& error) {
    const bool literal_marker_in_input = contains_marker(text);
    const std::optional<bool> secret_positions_only =
        literal_marker_in_input ? std::nullopt : secret_only_in_secret_positions(text);
    check_problems(error, sentinel, secret_positions_only.value_or(false));
  } catch (const std::exception& error) {
    fail("parse_config threw something other than ConfigError", error.what());
  }
}

}  // namespace
}  // namespace kps

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kps::run_one(data, size);
  return 0;
}
