// Command-line options for ravel-cli: "--name value" pairs, repeatable options and flags.
// Unknown options are errors so a typo never silently changes a benchmark or a test.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ravel/result.hpp"

namespace ravel::cli {

struct OptionSpec {
    std::set<std::string> valued;  // options that take a value, e.g. "model"
    std::set<std::string> flags;   // options without a value, e.g. "json"
};

class Args {
  public:
    static Result<Args> parse(const std::vector<std::string>& argv, const OptionSpec& spec);

    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::optional<std::string> get(const std::string& name) const;
    std::vector<std::string> all(const std::string& name) const;
    std::string get_or(const std::string& name, const std::string& fallback) const;
    Result<long long> get_int(const std::string& name, long long fallback, long long min,
                              long long max) const;
    Result<double> get_double(const std::string& name, double fallback, double min,
                              double max) const;

  private:
    std::map<std::string, std::vector<std::string>> values_;
    std::set<std::string> flags_;
};

}  // namespace ravel::cli
