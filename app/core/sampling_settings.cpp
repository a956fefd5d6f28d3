#include "sampling_settings.hpp"

#include <QCoreApplication>
#include <QJsonValue>
#include <algorithm>

namespace ravel::app {

const QList<SamplingParameterInfo>& sampling_parameters() {
    static const QList<SamplingParameterInfo> table = {
        {"temperature", 0.0, 3.0, 0.05,
         QT_TRANSLATE_NOOP("Sampling",
                           "Randomness of each token. 0 always picks the most likely "
                           "token; higher values give more varied, less focused text.")},
        {"topP", 0.01, 1.0, 0.01,
         QT_TRANSLATE_NOOP("Sampling",
                           "Nucleus sampling: only the most likely tokens whose "
                           "probabilities add up to this value are considered. 1 "
                           "disables it.")},
        {"topK", 0.0, 500.0, 1.0,
         QT_TRANSLATE_NOOP("Sampling",
                           "Only the K most likely tokens are considered. 0 disables it.")},
        {"minP", 0.0, 0.95, 0.01,
         QT_TRANSLATE_NOOP("Sampling",
                           "Drops tokens whose probability is below this fraction of "
                           "the most likely token's. 0 disables it.")},
        {"presencePenalty", 0.0, 2.0, 0.05,
         QT_TRANSLATE_NOOP("Sampling",
                           "Lowers the score of every token that already appeared, "
                           "once. Discourages repeating topics.")},
        {"frequencyPenalty", 0.0, 2.0, 0.05,
         QT_TRANSLATE_NOOP("Sampling",
                           "Lowers a token's score more each time it appears. "
                           "Discourages repeating words.")},
        {"penaltyDecay", 0.9, 1.0, 0.001,
         QT_TRANSLATE_NOOP("Sampling",
                           "How fast past tokens are forgiven: each new token "
                           "multiplies the old penalties by this factor.")},
        {"maxTokens", 1.0, 8192.0, 1.0,
         QT_TRANSLATE_NOOP("Sampling", "The reply stops after this many tokens.")},
        {"seed", -1.0, 2147483647.0, 1.0,
         QT_TRANSLATE_NOOP("Sampling",
                           "Random seed. The same seed, conversation and settings "
                           "give the same reply. -1 picks a new seed each time.")},
    };
    return table;
}

namespace {

double clamp_to(const char* key, double value) {
    for (const auto& p : sampling_parameters()) {
        if (qstrcmp(p.key, key) == 0) return std::clamp(value, p.minimum, p.maximum);
    }
    return value;
}

}  // namespace

SamplingSettings SamplingSettings::clamped() const {
    SamplingSettings s = *this;
    s.temperature = clamp_to("temperature", temperature);
    s.topP = clamp_to("topP", topP);
    s.topK = static_cast<int>(clamp_to("topK", topK));
    s.minP = clamp_to("minP", minP);
    s.presencePenalty = clamp_to("presencePenalty", presencePenalty);
    s.frequencyPenalty = clamp_to("frequencyPenalty", frequencyPenalty);
    s.penaltyDecay = clamp_to("penaltyDecay", penaltyDecay);
    s.maxTokens = static_cast<int>(clamp_to("maxTokens", maxTokens));
    s.seed = static_cast<qint64>(clamp_to("seed", static_cast<double>(seed)));
    return s;
}

QJsonObject SamplingSettings::toJson() const {
    return QJsonObject{{"temperature", temperature},
                       {"topP", topP},
                       {"topK", topK},
                       {"minP", minP},
                       {"presencePenalty", presencePenalty},
                       {"frequencyPenalty", frequencyPenalty},
                       {"penaltyDecay", penaltyDecay},
                       {"maxTokens", maxTokens},
                       {"seed", static_cast<double>(seed)},
                       {"stopSequences", stopSequences}};
}

SamplingSettings SamplingSettings::fromJson(const QJsonObject& json) {
    SamplingSettings s;
    auto number = [&](const char* key, double fallback) {
        const QJsonValue v = json.value(QLatin1String(key));
        // Clamped while still a double: a value past int's range (an imported or hand-edited
        // file) would make the conversion below undefined.
        return v.isDouble() ? clamp_to(key, v.toDouble()) : fallback;
    };
    s.temperature = number("temperature", s.temperature);
    s.topP = number("topP", s.topP);
    s.topK = static_cast<int>(number("topK", s.topK));
    s.minP = number("minP", s.minP);
    s.presencePenalty = number("presencePenalty", s.presencePenalty);
    s.frequencyPenalty = number("frequencyPenalty", s.frequencyPenalty);
    s.penaltyDecay = number("penaltyDecay", s.penaltyDecay);
    s.maxTokens = static_cast<int>(number("maxTokens", s.maxTokens));
    s.seed = static_cast<qint64>(number("seed", static_cast<double>(s.seed)));
    if (json.value("stopSequences").isString()) {
        s.stopSequences = json.value("stopSequences").toString();
    }
    return s.clamped();
}

QList<QString> builtin_preset_names() {
    return {QStringLiteral("Precise"), QStringLiteral("Balanced"), QStringLiteral("Creative")};
}

SamplingSettings builtin_preset(const QString& name) {
    SamplingSettings s;  // Balanced: ChatRWKV's chat defaults
    if (name == QLatin1String("Precise")) {
        s.temperature = 0.3;
        s.topP = 0.2;
        s.presencePenalty = 0.2;
        s.frequencyPenalty = 0.2;
    } else if (name == QLatin1String("Creative")) {
        s.temperature = 1.3;
        s.topP = 0.6;
        s.minP = 0.02;
        s.presencePenalty = 0.7;
        s.frequencyPenalty = 0.7;
    }
    return s;
}

SamplingSettings demo_model_sampling() {
    SamplingSettings s;
    s.temperature = 0;
    s.topP = 1.0;
    s.presencePenalty = 0;
    s.frequencyPenalty = 0;
    return s;
}

}  // namespace ravel::app
