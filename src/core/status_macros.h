#pragma once

#include "core/result.h"
#include "core/status.h"

// Propagate an error Status from the enclosing function.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::rivulet::Status rivulet_status_ = (expr);        \
    if (!rivulet_status_.ok()) return rivulet_status_; \
  } while (0)

#define RIVULET_CONCAT_INNER(a, b) a##b
#define RIVULET_CONCAT(a, b) RIVULET_CONCAT_INNER(a, b)

// ASSIGN_OR_RETURN(auto x, ComputeResult()) declares or assigns the value of a
// Result, or returns its error from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr) \
  RIVULET_ASSIGN_OR_RETURN_IMPL(RIVULET_CONCAT(rivulet_result_, __LINE__), lhs, expr)

#define RIVULET_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
