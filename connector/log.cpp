#include "connector/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace kps::log {
namespace {

LogLevel g_level = LogLevel::Info;
LogFormat g_format = LogFormat::Text;
std::mutex g_mutex;

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "?";
}

std::string timestamp_utc() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t seconds = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis));
  return text;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

}  // namespace

void configure(LogLevel level, LogFormat format) {
  g_level = level;
  g_format = format;
}

bool enabled(LogLevel level) { return static_cast<int>(level) >= static_cast<int>(g_level); }

void write(LogLevel level, std::string_view message) {
  std::string line;
  if (g_format == LogFormat::Json) {
    line = "{\"time\":\"" + timestamp_utc() + "\",\"level\":\"" + level_name(level) + "\",\"message\":";
    append_json_string(line, message);
    line += "}\n";
  } else {
    line = timestamp_utc() + " " + level_name(level) + " " + std::string(message) + "\n";
  }
  const std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace kps::log
