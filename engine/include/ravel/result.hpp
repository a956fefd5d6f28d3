// Errors as values: every fallible engine call returns Result<T>. The message is written for a
// person (what failed, where, what was expected), never an error code to look up.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace ravel {

enum class ErrorCode { Failed, Cancelled };

struct Error {
    std::string message;
    ErrorCode code = ErrorCode::Failed;
};

inline Error make_error(std::string message) {
    return Error{std::move(message)};
}
inline Error cancelled_error() {
    return Error{"cancelled", ErrorCode::Cancelled};
}

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(v_); }
    const std::string& message() const { return error().message; }
    bool cancelled() const { return !ok() && error().code == ErrorCode::Cancelled; }

  private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }
    const std::string& message() const { return error_.message; }
    bool cancelled() const { return !ok_ && error_.code == ErrorCode::Cancelled; }

  private:
    Error error_;
    bool ok_ = true;
};

}  // namespace ravel
