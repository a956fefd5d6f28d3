#include "args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace ravel::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const OptionSpec& spec) {
    Args args;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.rfind("--", 0) != 0 || a.size() < 3) {
            return make_error("unexpected argument '" + a + "' (options start with --)");
        }
        std::string name = a.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (spec.flags.count(name)) {
            if (inline_value) return make_error("option --" + name + " takes no value");
            args.flags_.insert(name);
        } else if (spec.valued.count(name)) {
            if (inline_value) {
                args.values_[name].push_back(*inline_value);
            } else {
                if (i + 1 >= argv.size()) return make_error("option --" + name + " needs a value");
                args.values_[name].push_back(argv[++i]);
            }
        } else {
            return make_error("unknown option --" + name);
        }
    }
    return args;
}

std::optional<std::string> Args::get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
    return get(name).value_or(fallback);
}

Result<long long> Args::get_int(const std::string& name, long long fallback, long long min,
                                long long max) const {
    auto v = get(name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (errno != 0 || end == v->c_str() || *end != '\0') {
        return make_error("--" + name + " must be an integer, got '" + *v + "'");
    }
    if (n < min || n > max) {
        return make_error("--" + name + " must be between " + std::to_string(min) + " and " +
                          std::to_string(max) + ", got " + *v);
    }
    return n;
}

Result<double> Args::get_double(const std::string& name, double fallback, double min,
                                double max) const {
    auto v = get(name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    double d = std::strtod(v->c_str(), &end);
    if (errno != 0 || end == v->c_str() || *end != '\0' || !std::isfinite(d)) {
        return make_error("--" + name + " must be a number, got '" + *v + "'");
    }
    if (d < min || d > max) {
        return make_error("--" + name + " must be between " + std::to_string(min) + " and " +
                          std::to_string(max) + ", got " + *v);
    }
    return d;
}

}  // namespace ravel::cli
