#pragma once
// One line per decision (start, assignment, retry, flush failure, shutdown), never one
// per record: per-record facts go to counters. Callers redact secrets before logging;
// redact_dsn() in config.h is the tool for the DSN.

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

template <typename... Parts> void debug(const Parts&... p) { emit(LogLevel::Debug, p...); }
template <typename... Parts> void info(const Parts&... p) { emit(LogLevel::Info, p...); }
template <typename... Parts> void warn(const Parts&... p) { emit(LogLevel::Warn, p...); }
template <typename... Parts> void error(const Parts&... p) { emit(LogLevel::Error, p...); }

}  // namespace kps::log
