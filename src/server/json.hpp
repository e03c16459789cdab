#pragma once
// The JSON bodies of the HTTP API besides results (docs/api.md): the job object and the error
// object.
#include <cstdint>
#include <string>
#include <string_view>

#include "store/jobs.hpp"

namespace mailsift::server {

/// The job object: id, name, state, level, times (ISO 8601 UTC or null), total, done, progress,
/// counts, callback and the results path.
[[nodiscard]] std::string job_json(const store::JobRecord& j);
/// {"error":{"code":…,"message":…}}
[[nodiscard]] std::string error_json(std::string_view code, std::string_view message);

}  // namespace mailsift::server
