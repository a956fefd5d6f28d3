#include "inference_types.hpp"

namespace ravel::app {

QString role_name(Role role) {
    switch (role) {
        case Role::System:
            return QStringLiteral("system");
        case Role::User:
            return QStringLiteral("user");
        case Role::Assistant:
            return QStringLiteral("assistant");
    }
    return QStringLiteral("user");
}

Role role_from_name(const QString& name) {
    if (name == QLatin1String("system")) return Role::System;
    if (name == QLatin1String("assistant")) return Role::Assistant;
    return Role::User;
}

}  // namespace ravel::app
