// Sampler and reply settings as a value. Each conversation stores its own copy; requests carry
// a copy to the worker. The ranges here are the single source for the UI's sliders and for
// validation, so a value read from the database or a preset file is clamped the same way.
#pragma once

#include <QJsonObject>
#include <QList>
#include <QMetaType>
#include <QString>

namespace ravel::app {

struct SamplingSettings {
    double temperature = 1.0;
    double topP = 0.3;
    int topK = 0;
    double minP = 0.0;
    double presencePenalty = 0.5;
    double frequencyPenalty = 0.5;
    double penaltyDecay = 0.996;
    int maxTokens = 500;
    qint64 seed = -1;       // -1: a new random seed per reply
    QString stopSequences;  // one per line, in addition to the template's own stop

    QJsonObject toJson() const;
    // Unknown keys are ignored, missing keys keep their defaults, values are clamped.
    static SamplingSettings fromJson(const QJsonObject& json);
    SamplingSettings clamped() const;
    bool operator==(const SamplingSettings&) const = default;
};

// One row per setting: key, range and a sentence saying what it does (shown as a tooltip).
struct SamplingParameterInfo {
    const char* key;
    double minimum;
    double maximum;
    double step;
    const char* description;
};
const QList<SamplingParameterInfo>& sampling_parameters();

// The built-in presets: "Precise", "Balanced", "Creative".
QList<QString> builtin_preset_names();
SamplingSettings builtin_preset(const QString& name);

// What conversations start with while the bundled demo model is loaded: greedy decoding with no
// repetition penalties, as its model card (resources/models/README.md) recommends -- the model
// answers sums and facts exactly, and a penalty on digits it already wrote would break that.
SamplingSettings demo_model_sampling();

}  // namespace ravel::app

Q_DECLARE_METATYPE(ravel::app::SamplingSettings)
