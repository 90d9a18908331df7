#include "connector/status.h"

namespace kps {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Transient: return "transient";
    case ErrorKind::Poison: return "poison";
    case ErrorKind::Fatal: return "fatal";
  }
  return "unknown";
}

}  // namespace kps
