#include <catch2/catch.hpp>

#include "core/status_macros.h"

using rivulet::Result;
using rivulet::Status;
using rivulet::StatusCode;

namespace {
Result<int> Half(int n) {
  if (n % 2 != 0)
    return Status::InvalidArgument("n", "expected an even number, got " + std::to_string(n));
  return n / 2;
}

Result<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

Status CheckQuarter(int n) {
  RETURN_IF_ERROR(Quarter(n).status());
  return Status::Ok();
}
}  // namespace

TEST_CASE("Status carries a code, a message with context, and a reason", "[status]") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.ToString() == "ok");
  Status bad =
      Status::InvalidArgument("sagas[0].timeout", "expected a duration like 30s, got \"fast\"");
  CHECK(bad.code() == StatusCode::kInvalidArgument);
  CHECK(bad.message() == "sagas[0].timeout: expected a duration like 30s, got \"fast\"");
  Status wrapped = bad.WithContext("rivulet.yaml");
  CHECK(wrapped.message() ==
        "rivulet.yaml: sagas[0].timeout: expected a duration like 30s, got \"fast\"");
  CHECK(bad.message() == "sagas[0].timeout: expected a duration like 30s, got \"fast\"");
  Status conflict = Status::Aborted("x").WithReason("wrong_expected_version", {{"expected", 1}});
  CHECK(conflict.reason() == "wrong_expected_version");
  CHECK(conflict.details()["expected"] == 1);
  CHECK(Status::Ok().WithContext("ignored").ok());
}

TEST_CASE("Result and the macros propagate the first error", "[status]") {
  CHECK(*Quarter(8) == 2);
  auto odd = Quarter(6);
  REQUIRE_FALSE(odd.ok());
  CHECK(odd.status().message() == "n: expected an even number, got 3");
  CHECK(CheckQuarter(4).ok());
  CHECK(CheckQuarter(2).code() == StatusCode::kInvalidArgument);
  Result<int> from_ok_status{Status::Ok()};
  CHECK_FALSE(from_ok_status.ok());
  CHECK(from_ok_status.status().code() == StatusCode::kInternal);
  CHECK(Half(3).value_or(-1) == -1);
}
