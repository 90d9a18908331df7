#pragma once
// One line per decision (start, assignment, retry, flush failure, shutdown), never one
// per record: per-record facts go to counters. Callers redact secrets before logging;
// redact_dsn() in config.h is the tool for the DSN.

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "connector/config.h"

namespace kps::log {

/// Set once at start-up, before any thread is started.
void configure(LogLevel level, LogFormat format);
bool enabled(LogLevel level);
/// Writes one line to stderr: time, level, message. Thread-safe.
void write(LogLevel level, std::string_view message);

template <typename... Parts>
void emit(LogLevel level, const Parts&... parts) {
  if (!enabled(level)) return;
  std::ostringstream line;
  (line << ... << parts);
  write(level, line.str());
}

/// For lines that could come once per record (a dead-lettered record): at most
/// `lines_per_minute` of them a minute; the first line after a held-back stretch says how
/// many were held back. Polling thread only.
class RateLimited {
 public:
  explicit RateLimited(uint32_t lines_per_minute) : lines_per_minute_(lines_per_minute) {}

  template <typename... Parts>
  void warn(std::chrono::steady_clock::time_point now, const Parts&... parts) {
    write(LogLevel::Warn, now, parts...);
  }
  template <typename... Parts>
  void info(std::chrono::steady_clock::time_point now, const Parts&... parts) {
    write(LogLevel::Info, now, parts...);
  }

 private:
  template <typename... Parts>
  void write(LogLevel level, std::chrono::steady_clock::time_point now, const Parts&... parts) {
    if (now - window_start_ >= std::chrono::minutes(1)) {
      window_start_ = now;
      written_in_window_ = 0;
    }
    if (written_in_window_ >= lines_per_minute_) {
      ++held_back_;
      return;
    }
    ++written_in_window_;
    if (held_back_ == 0) {
      emit(level, parts...);
    } else {
      emit(level, parts..., " (", held_back_, " similar line(s) held back)");
      held_back_ = 0;
    }
  }

  uint32_t lines_per_minute_;
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t written_in_window_ = 0;
  uint64_t held_back_ = 0;
};

template <typename... Parts> void debug(const Parts&... p) { emit(LogLevel::Debug, p...); }
template <typename... Parts> void info(const Parts&... p) { emit(LogLevel::Info, p...); }
template <typename... Parts> void warn(const Parts&... p) { emit(LogLevel::Warn, p...); }
template <typename... Parts> void error(const Parts&... p) { emit(LogLevel::Error, p...); }

}  // namespace kps::log
