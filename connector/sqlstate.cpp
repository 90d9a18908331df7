#include "connector/sqlstate.h"

namespace kps {

ErrorKind classify_sqlstate(std::string_view sqlstate) {
  if (sqlstate.size() != 5) return ErrorKind::Transient;
  const std::string_view error_class = sqlstate.substr(0, 2);
  if (error_class == "08" || error_class == "53") return ErrorKind::Transient;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") return ErrorKind::Transient;
  if (sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03") return ErrorKind::Transient;
  if (error_class == "22" || error_class == "23") return ErrorKind::Poison;
  // "ON CONFLICT DO UPDATE command cannot affect row a second time": two rows of one
  // batch that the key reducer kept apart name one row (a jsonb key written in two key
  // orders, a case-insensitive collation). The rows are the problem, not the daemon.
  if (sqlstate == "21000") return ErrorKind::Poison;
  return ErrorKind::Fatal;
}

}  // namespace kps
