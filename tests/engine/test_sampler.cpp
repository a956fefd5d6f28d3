// Sampler: filters, distribution, penalties (hand-computed), determinism and the resume blob.
#include <QtTest>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "ravel/sampler.hpp"
#include "sampling/logit_scan.hpp"
#include "sampling/shifted_exp.hpp"

// Designated initialisers name only the settings a test changes; the rest keep their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

using ravel::Sampler;
using ravel::SamplerSettings;

namespace {

std::vector<float> log_probs(const std::vector<double>& p) {
    std::vector<float> out;
    for (double x : p) out.push_back(static_cast<float>(std::log(x)));
    return out;
}

Sampler make(SamplerSettings s) {
    auto r = Sampler::create(std::move(s));
    if (!r) qFatal("%s", r.message().c_str());
    return std::move(r).value();
}

// Draws `n` tokens (no accept, so no penalties) and counts them.
std::map<int, int> histogram(Sampler& sampler, const std::vector<float>& logits, int n) {
    std::map<int, int> counts;
    for (int i = 0; i < n; ++i) ++counts[sampler.sample(logits)];
    return counts;
}

}  // namespace

class TestSampler : public QObject {
    Q_OBJECT

  private slots:
    void shiftedExpIsAccurate() {
        // Against double exp over the whole range the sampler uses (shifted logits <= 0), on a
        // length that leaves a scalar tail; below the floor, -inf and NaN give tiny weights.
        std::vector<float> x;
        for (double v = 0.0; v > -86.9; v -= 0.0137) x.push_back(static_cast<float>(v + 2.5));
        x.push_back(-std::numeric_limits<float>::infinity());
        x.push_back(std::numeric_limits<float>::quiet_NaN());
        x.push_back(-500.0f);
        std::vector<double> out(x.size(), -1.0);
        ravel::detail::shifted_exp(x.data(), x.size(), 2.5f, out.data());
        // The wide path (where this CPU has it) and the portable one give the same bits, here
        // and on every tail length.
        std::vector<double> portable(x.size(), -2.0);
        ravel::detail::shifted_exp_portable(x.data(), x.size(), 2.5f, portable.data());
        QVERIFY(std::memcmp(out.data(), portable.data(), sizeof(double) * out.size()) == 0);
        for (std::size_t n = 1; n <= 19; ++n) {
            std::vector<double> a(n, -1.0), b(n, -2.0);
            ravel::detail::shifted_exp(x.data() + 100, n, 2.5f, a.data());
            ravel::detail::shifted_exp_portable(x.data() + 100, n, 2.5f, b.data());
            QVERIFY2(std::memcmp(a.data(), b.data(), sizeof(double) * n) == 0,
                     qPrintable(QString("length %1").arg(n)));
        }
        double worst = 0.0;
        for (std::size_t i = 0; i + 3 < x.size(); ++i) {
            // The shift is subtracted in float, as the sampler's logits are floats.
            const double want = std::exp(static_cast<double>(x[i] - 2.5f));
            worst = std::max(worst, std::fabs(out[i] - want) / want);
        }
        qInfo("shifted_exp: worst relative error %.3g", worst);
        QVERIFY(worst < 2e-7);
        for (std::size_t i = x.size() - 3; i < x.size(); ++i)
            QVERIFY(out[i] >= 0.0 && out[i] < 1e-37);
    }

    void xoshiroMatchesReferenceStream() {
        // Expected values from an independent Python transcription of splitmix64 + xoshiro256**
        // (the authors' published algorithm); splitmix64(0)'s first output 0xe220a8397b1dcdaf is
        // the widely published value.
        ravel::Xoshiro256 r0(0);
        QCOMPARE(r0.state()[0], 0xe220a8397b1dcdafULL);
        QCOMPARE(r0.state()[3], 0xf88bb8a8724c81ecULL);
        QCOMPARE(r0.next(), 0x99ec5f36cb75f2b4ULL);
        QCOMPARE(r0.next(), 0xbf6e1f784956452aULL);
        QCOMPARE(r0.next(), 0x1a5f849d4933e6e0ULL);
        ravel::Xoshiro256 r42(42);
        QCOMPARE(r42.next(), 0x15780b2e0c2ec716ULL);
        QCOMPARE(r42.next(), 0x6104d9866d113a7eULL);
        QCOMPARE(r42.next(), 0xae17533239e499a1ULL);
        for (int i = 0; i < 1000; ++i) {
            const double d = r42.next_double();
            QVERIFY(d >= 0.0 && d < 1.0);
        }
    }

    void validateRejectsBadSettings() {
        QVERIFY(SamplerSettings{}.validate().ok());
        QVERIFY(SamplerSettings::chat_defaults().validate().ok());
        auto bad = [](auto mutate) {
            SamplerSettings s;
            mutate(s);
            return s.validate();
        };
        auto r = bad([](SamplerSettings& s) { s.temperature = -0.1f; });
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("temperature") != std::string::npos, r.message().c_str());
        QVERIFY(!bad([](SamplerSettings& s) { s.temperature = 5.5f; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.temperature = NAN; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.top_k = -1; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.top_p = 0.0f; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.top_p = 1.01f; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.min_p = 1.0f; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.min_p = -0.1f; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.penalty_decay = 1.5f; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.presence_penalty = INFINITY; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.max_tokens = 0; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.banned_tokens = {3, -1}; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.stop_sequences = {""}; }).ok());
        QVERIFY(!bad([](SamplerSettings& s) { s.stop_sequences = {std::string(300, 'x')}; }).ok());
        QVERIFY(!Sampler::create(SamplerSettings{.temperature = 9.0f}).ok());
        Sampler ok;
        QVERIFY(!ok.update_settings(SamplerSettings{.top_p = 2.0f}).ok());
        QCOMPARE(ok.settings().top_p, 1.0f);  // unchanged after a rejected update
    }

    void greedyPicksArgMax() {
        Sampler s = make({.temperature = 0.0f, .seed = 7});
        const std::vector<float> logits = {0.1f, -3.0f, 2.5f, 2.4f, 1.0f};
        for (int i = 0; i < 100; ++i) QCOMPARE(s.sample(logits), 2);
        // Ties go to the lowest id.
        QCOMPARE(s.sample(std::vector<float>{1.0f, 3.0f, 3.0f}), 1);
        // Bans and non-finite logits are skipped.
        QCOMPARE(s.sample(logits, std::vector<std::int32_t>{2}), 3);
        QCOMPARE(s.sample(std::vector<float>{NAN, 0.5f, INFINITY}), 1);
        QCOMPARE(s.sample(std::vector<float>{}), -1);
        QCOMPARE(s.sample(std::vector<float>{1.0f}, std::vector<std::int32_t>{0}), -1);
    }

    void topKStaysInAllowedSet() {
        // Probabilities 0.4 0.25 0.15 0.1 0.05 0.03 0.02: the 3 most likely are ids 0, 1, 2.
        const auto logits = log_probs({0.1, 0.25, 0.02, 0.4, 0.05, 0.15, 0.03});
        Sampler s = make({.temperature = 1.7f, .top_k = 3, .seed = 11});
        auto h = histogram(s, logits, 10000);
        QCOMPARE(std::set<int>({1, 3, 5}), [&] {
            std::set<int> seen;
            for (auto [t, c] : h) seen.insert(t);
            return seen;
        }());
        // Ties at the cut keep the lowest ids.
        Sampler tie = make({.top_k = 2, .seed = 3});
        auto ht = histogram(tie, {1.0f, 1.0f, 1.0f, 0.0f}, 2000);
        QCOMPARE(ht.size(), std::size_t{2});
        QVERIFY(ht.count(0) && ht.count(1));
    }

    void topPStaysInAllowedSet() {
        // Sorted probabilities 0.4, 0.25, 0.15, ...: cumulative 0.4, 0.65, 0.80, so top-p 0.7
        // needs the three most likely tokens (ids 3, 1, 5) and nothing else.
        const auto logits = log_probs({0.1, 0.25, 0.02, 0.4, 0.05, 0.15, 0.03});
        Sampler s = make({.temperature = 2.0f, .top_p = 0.7f, .seed = 12});
        auto h = histogram(s, logits, 10000);
        QCOMPARE(h.size(), std::size_t{3});
        QVERIFY(h.count(3) && h.count(1) && h.count(5));
        // A tiny top-p keeps only the best token.
        Sampler one = make({.top_p = 0.01f, .seed = 1});
        auto h1 = histogram(one, logits, 1000);
        QCOMPARE(h1.size(), std::size_t{1});
        QCOMPARE(h1.begin()->first, 3);
    }

    void topPOverLargeVocabularyNeedsMoreThanOnePrefix() {
        // 1000 equally likely tokens: top-p 0.5 must keep exactly 500 (ids 0..499 by the
        // tie rule), which is more than the first partial-sort prefix.
        std::vector<float> logits(1000, 0.0f);
        Sampler s = make({.top_p = 0.5f, .seed = 5});
        auto h = histogram(s, logits, 10000);
        QVERIFY(h.rbegin()->first <= 499);
        QVERIFY(h.size() > 450);
    }

    void topPNucleusEndsInsideAGroupOfEqualLogits() {
        // 10 tokens at logit 3, then 4990 at 0, then the rest of a World-sized vocabulary spread
        // over [-10, -1]. Top-p 0.5 ends inside the group at 0, where the tie rule keeps the
        // lowest ids: the cut, computed here by a full sort, must be exactly where draws stop.
        std::vector<float> logits(65536);
        ravel::Xoshiro256 r(17);
        for (std::size_t i = 0; i < logits.size(); ++i) {
            logits[i] = i < 10     ? 3.0f
                        : i < 5000 ? 0.0f
                                   : static_cast<float>(-1.0 - 9.0 * r.next_double());
        }
        std::vector<int> order(logits.size());
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)] ||
                   (logits[static_cast<std::size_t>(a)] == logits[static_cast<std::size_t>(b)] &&
                    a < b);
        });
        double total = 0.0;
        for (float l : logits) total += std::exp(static_cast<double>(l) - 3.0);
        double cumulative = 0.0;
        int cut = 0;  // the last id kept
        for (int t : order) {
            cumulative += std::exp(static_cast<double>(logits[static_cast<std::size_t>(t)]) - 3.0);
            cut = t;
            if (cumulative >= 0.5 * total) break;
        }
        QVERIFY(cut > 1000 && cut < 4990);  // inside the group at 0
        Sampler s = make({.top_p = 0.5f, .seed = 21});
        const auto h = histogram(s, logits, 4000);
        QVERIFY(h.rbegin()->first <= cut);
        QVERIFY(h.rbegin()->first >= cut - 200);  // draws reach the cut: nothing kept too few
    }

    void topPWithAFarOutlierKeepsTheNucleus() {
        // One finite logit at -1e30 (a huge penalty) beside 2000 spread over [-5, 5]: the
        // outlier must not crowd the others into one bucket, nor overflow the bucket index.
        std::vector<float> logits(2001);
        ravel::Xoshiro256 r(23);
        for (auto& l : logits) l = static_cast<float>(r.next_double() * 10.0 - 5.0);
        logits[777] = -1e30f;
        std::vector<float> sorted = logits;
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        double total = 0.0;
        for (float l : sorted) total += std::exp(static_cast<double>(l) - sorted[0]);
        double cumulative = 0.0;
        float cut = sorted[0];
        for (float l : sorted) {
            cumulative += std::exp(static_cast<double>(l) - sorted[0]);
            cut = l;
            if (cumulative >= 0.4 * total) break;
        }
        Sampler s = make({.top_p = 0.4f, .seed = 8});
        float lowest_drawn = sorted[0];
        for (const auto& [t, count] : histogram(s, logits, 3000)) {
            QVERIFY(t >= 0);
            lowest_drawn = std::min(lowest_drawn, logits[static_cast<std::size_t>(t)]);
        }
        QVERIFY(lowest_drawn >= cut);
        QVERIFY(lowest_drawn < cut + 0.5f);  // the draws reach down to the cut
    }

    void topPEndsInsideALargeBucketOfDistinctLogits() {
        // 10 tokens at logit 5, 50000 distinct logits within 1e-3 of 0 (one bucket of the
        // first pass, whose range reaches 64 below the best), the rest spread down to -60.
        // Top-p ends inside the dense group, which is bucketed again until it is small: the
        // draws must stop exactly at the cut a full sort gives.
        const std::size_t n = 65536;
        std::vector<float> logits(n);
        ravel::Xoshiro256 r(31);
        for (std::size_t i = 0; i < n; ++i) {
            logits[i] = i < 10      ? 5.0f
                        : i < 50010 ? static_cast<float>(r.next_double() * 1e-3)
                                    : static_cast<float>(-1.0 - 59.0 * r.next_double());
        }
        std::vector<int> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::sort(order.begin(), order.end(), [&](int a, int b) {
            return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)] ||
                   (logits[static_cast<std::size_t>(a)] == logits[static_cast<std::size_t>(b)] &&
                    a < b);
        });
        std::vector<int> rank(n);
        for (std::size_t i = 0; i < n; ++i)
            rank[static_cast<std::size_t>(order[i])] = static_cast<int>(i);
        double total = 0.0;
        for (float l : logits) total += std::exp(static_cast<double>(l) - 5.0);
        double cumulative = 0.0;
        int cut_rank = 0;
        for (std::size_t i = 0; i < n; ++i) {
            cumulative +=
                std::exp(static_cast<double>(logits[static_cast<std::size_t>(order[i])]) - 5.0);
            cut_rank = static_cast<int>(i);
            if (cumulative >= 0.6 * total) break;
        }
        QVERIFY(cut_rank > 1000 && cut_rank < 49000);  // inside the dense group
        Sampler s = make({.top_p = 0.6f, .seed = 41});
        int deepest = 0;
        for (const auto& [t, count] : histogram(s, logits, 6000)) {
            QVERIFY(t >= 0);
            deepest = std::max(deepest, rank[static_cast<std::size_t>(t)]);
        }
        QVERIFY2(deepest <= cut_rank,
                 qPrintable(QString("drew rank %1, cut %2").arg(deepest).arg(cut_rank)));
        QVERIFY2(
            deepest >= cut_rank - 200,
            qPrintable(QString("drew down to rank %1 only, cut %2").arg(deepest).arg(cut_rank)));
    }

    void logitScanMatchesPlainLoops() {
        ravel::Xoshiro256 r(3);
        for (std::size_t n : {1u, 3u, 7u, 8u, 9u, 16u, 17u, 31u, 33u, 1000u, 4099u}) {
            std::vector<float> x(n);
            for (auto& v : x) v = static_cast<float>(r.next_double() * 8.0 - 4.0);
            // The maximum twice, so the lowest index must be reported.
            const std::size_t at = n / 2;
            x[at] = 9.0f;
            x[n - 1] = 9.0f;
            auto scan = ravel::detail::scan_logits(x.data(), n);
            QVERIFY(scan.all_finite);
            QCOMPARE(scan.max, 9.0f);
            QCOMPARE(scan.first_max, at);
            // Block maxima, the sum and the minimum against plain loops.
            std::vector<float> maxima(n / ravel::detail::kMaximaBlock);
            ravel::detail::block_maxima(x.data(), n, maxima.data());
            for (std::size_t b = 0; b < maxima.size(); ++b) {
                const auto* p = x.data() + b * ravel::detail::kMaximaBlock;
                QCOMPARE(maxima[b], *std::max_element(p, p + ravel::detail::kMaximaBlock));
            }
            QCOMPARE(ravel::detail::min_of(x.data(), n), *std::min_element(x.begin(), x.end()));
            std::vector<double> d(x.begin(), x.end());
            long double exact = 0;
            for (double v : d) exact += v;
            QVERIFY(std::fabs(ravel::detail::sum_of(d.data(), n) - static_cast<double>(exact)) <=
                    1e-12 * static_cast<double>(n) * 9.0);
            // Any infinity or NaN, in the vector body or the tail, is reported.
            for (std::size_t pos : {std::size_t{0}, n / 3, n - 1}) {
                for (float bad : {std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity(),
                                  std::numeric_limits<float>::quiet_NaN()}) {
                    std::vector<float> y = x;
                    y[pos] = bad;
                    QVERIFY2(!ravel::detail::scan_logits(y.data(), n).all_finite,
                             qPrintable(QString("n %1 at %2").arg(n).arg(pos)));
                }
            }
        }
    }

    void minPStaysInAllowedSet() {
        // min-p 0.3 keeps tokens with p >= 0.3 * 0.4 = 0.12: ids 3 (0.4), 1 (0.25), 5 (0.15).
        const auto logits = log_probs({0.1, 0.25, 0.02, 0.4, 0.05, 0.15, 0.03});
        Sampler s = make({.temperature = 3.0f, .min_p = 0.3f, .seed = 13});
        auto h = histogram(s, logits, 10000);
        QCOMPARE(h.size(), std::size_t{3});
        QVERIFY(h.count(3) && h.count(1) && h.count(5));
    }

    void combinedFiltersStayInAllowedSet() {
        // top-k 4 -> {3,1,5,0}; top-p 0.9 of those (0.4+0.25+0.15+0.1=0.9 total, renormalised
        // cumulative 0.444, 0.722, 0.889, 1.0) -> all four; min-p 0.3 -> drops id 0 (0.1<0.12).
        const auto logits = log_probs({0.1, 0.25, 0.02, 0.4, 0.05, 0.15, 0.03});
        Sampler s = make({.top_k = 4, .top_p = 0.9f, .min_p = 0.3f, .seed = 14});
        auto h = histogram(s, logits, 10000);
        QCOMPARE(h.size(), std::size_t{3});
        QVERIFY(h.count(3) && h.count(1) && h.count(5));
    }

    void temperatureOneMatchesSoftmax() {
        const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f, 0.5f, 1.5f, -2.0f, 3.0f};
        double z = 0.0;
        for (float l : logits) z += std::exp(static_cast<double>(l));
        Sampler s = make({.seed = 20240601});
        const int n = 100000;
        auto h = histogram(s, logits, n);
        double chi2 = 0.0;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            const double expected = n * std::exp(static_cast<double>(logits[i])) / z;
            const double observed = h[static_cast<int>(i)];
            chi2 += (observed - expected) * (observed - expected) / expected;
        }
        // 7 degrees of freedom; the 0.999 quantile of chi-square(7) is 24.32.
        qInfo("chi-square = %.3f (critical 24.32 at p = 0.001, 7 dof)", chi2);
        QVERIFY2(chi2 < 24.32, qPrintable(QString::number(chi2)));
    }

    void hugeLogitsWithATemperatureStillDrawTheBest() {
        // 3e38 / 0.5 overflows a float: the weights must not turn into infinities or NaN.
        std::vector<float> logits(64, 0.0f);
        logits[5] = 3e38f;
        logits[9] = 1e38f;
        Sampler s = make({.temperature = 0.5f, .seed = 4});
        const auto h = histogram(s, logits, 200);
        QCOMPARE(h.size(), std::size_t{1});
        QCOMPARE(h.begin()->first, 5);
    }

    void temperatureSharpensDistribution() {
        // At temperature 0.5 the odds of logits 1 vs 0 are e^2 = 7.39.
        Sampler s = make({.temperature = 0.5f, .seed = 99});
        auto h = histogram(s, {0.0f, 1.0f}, 50000);
        const double ratio = static_cast<double>(h[1]) / h[0];
        QVERIFY2(std::abs(ratio - std::exp(2.0)) < 0.3, qPrintable(QString::number(ratio)));
    }

    void penaltiesMatchHandComputation() {
        // presence 0.5, frequency 0.25, decay 0.5; token 1 is exempt (think: whitespace).
        // accept 4 -> w4 = 1
        // accept 4 -> w4 = 0.5 + 1 = 1.5
        // accept 2 -> w4 = 0.75, w2 = 1
        // accept 1 -> w4 = 0.375, w2 = 0.5 (token 1 gains nothing)
        // logits 4: 5 - (0.5 + 0.375 * 0.25) = 4.40625; 2: 3 - (0.5 + 0.5 * 0.25) = 2.375.
        Sampler s = make({.presence_penalty = 0.5f,
                          .frequency_penalty = 0.25f,
                          .penalty_decay = 0.5f,
                          .banned_tokens = {0}});
        s.set_penalty_exempt(std::make_shared<std::vector<bool>>(
            std::vector<bool>{false, true, false, false, false}));
        for (int t : {4, 4, 2, 1}) s.accept(t);
        QCOMPARE(s.penalty_weight(4), 0.375f);
        QCOMPARE(s.penalty_weight(2), 0.5f);
        QCOMPARE(s.penalty_weight(1), 0.0f);
        QCOMPARE(s.penalty_entries(), std::size_t{2});
        std::vector<float> logits = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
        s.adjust_logits(logits, std::vector<std::int32_t>{3});
        QVERIFY(std::isinf(logits[0]) && logits[0] < 0);  // banned by settings
        QCOMPARE(logits[1], 2.0f);
        QCOMPARE(logits[2], 2.375f);
        QVERIFY(std::isinf(logits[3]) && logits[3] < 0);  // extra ban
        QCOMPARE(logits[4], 4.40625f);
        // Decay 0 forgets everything but the last token.
        Sampler d = make({.frequency_penalty = 1.0f, .penalty_decay = 0.0f});
        for (int t : {5, 6, 7}) d.accept(t);
        QCOMPARE(d.penalty_entries(), std::size_t{1});
        QCOMPARE(d.penalty_weight(7), 1.0f);
    }

    void penaltyChangesGreedyChoice() {
        Sampler s = make({.temperature = 0.0f, .presence_penalty = 1.0f});
        const std::vector<float> logits = {0.0f, 2.0f, 1.5f};
        QCOMPARE(s.sample(logits), 1);
        s.accept(1);
        QCOMPARE(s.sample(logits), 2);  // 2 - 1 - 0 < 1.5
    }

    void sameSeedSameSequence() {
        std::vector<float> logits(300);
        for (std::size_t i = 0; i < logits.size(); ++i) {
            logits[i] = static_cast<float>(std::sin(static_cast<double>(i) * 0.37) * 3.0);
        }
        SamplerSettings settings = SamplerSettings::chat_defaults();
        settings.top_p = 0.9f;
        settings.seed = 1234;
        auto run = [&](SamplerSettings st) {
            Sampler s = make(st);
            std::vector<int> out;
            for (int i = 0; i < 200; ++i) {
                const int t = s.sample(logits);
                s.accept(t);
                out.push_back(t);
            }
            return out;
        };
        const auto a = run(settings);
        QCOMPARE(run(settings), a);
        settings.seed = 1235;
        QVERIFY(run(settings) != a);
        // reset() rewinds to the seed.
        Sampler s = make(SamplerSettings{.seed = 9});
        const int first = s.sample(logits);
        for (int i = 0; i < 10; ++i) s.accept(s.sample(logits));
        s.reset();
        QCOMPARE(s.penalty_entries(), std::size_t{0});
        QCOMPARE(s.sample(logits), first);
    }

    void saveRestoreContinuesIdentically() {
        std::vector<float> logits(500);
        for (std::size_t i = 0; i < logits.size(); ++i) {
            logits[i] = static_cast<float>(std::cos(static_cast<double>(i) * 0.11) * 2.0);
        }
        SamplerSettings settings = SamplerSettings::chat_defaults();
        settings.top_p = 0.95f;
        settings.seed = 77;
        Sampler a = make(settings);
        for (int i = 0; i < 40; ++i) a.accept(a.sample(logits));
        const auto blob = a.save();
        auto restored = Sampler::restore(settings, blob);
        QVERIFY2(restored.ok(), restored.ok() ? "" : restored.message().c_str());
        Sampler b = std::move(restored).value();
        QCOMPARE(b.penalty_entries(), a.penalty_entries());
        QCOMPARE(b.accepted_tokens(), a.accepted_tokens());
        QCOMPARE(b.save(), blob);
        for (int i = 0; i < 100; ++i) {
            const int ta = a.sample(logits);
            const int tb = b.sample(logits);
            QCOMPARE(tb, ta);
            a.accept(ta);
            b.accept(tb);
        }
    }

    void restoreRejectsHostileBytes() {
        Sampler a = make(SamplerSettings::chat_defaults());
        for (int t : {5, 9, 5, 70000}) a.accept(t);
        const auto blob = a.save();
        QCOMPARE(blob.size(), std::size_t{52 + 3 * 8});
        const auto settings = SamplerSettings::chat_defaults();
        for (std::size_t len = 0; len < blob.size(); ++len) {
            auto r = Sampler::restore(settings, std::span(blob.data(), len));
            QVERIFY2(!r.ok(), qPrintable(QString("accepted %1 truncated bytes").arg(len)));
        }
        auto corrupt = [&](std::size_t offset, std::uint8_t value) {
            auto b = blob;
            b[offset] = std::byte{value};
            return Sampler::restore(settings, b);
        };
        QVERIFY(!corrupt(0, 'X').ok());        // magic
        QVERIFY(!corrupt(4, 2).ok());          // version
        QVERIFY(!corrupt(48, 4).ok());         // entry count vs bytes
        QVERIFY(!corrupt(48, 0xff).ok());      // huge count, no allocation
        QVERIFY(!corrupt(52 + 3, 0x80).ok());  // negative token
        QVERIFY(!corrupt(52 + 8, 5).ok());     // token 5 after 5: not increasing
        QVERIFY(!corrupt(52 + 7, 0xff).ok());  // weight becomes NaN
        QVERIFY(!corrupt(52 + 7, 0x80).ok());  // weight becomes negative
        auto extra = blob;
        extra.push_back(std::byte{0});
        QVERIFY(!Sampler::restore(settings, extra).ok());
        auto zero = blob;
        std::memset(zero.data() + 16, 0, 32);
        QVERIFY(!Sampler::restore(settings, zero).ok());  // all-zero generator state
        std::vector<std::byte> garbage(4096);
        for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = std::byte(i * 131 + 7);
        QVERIFY(!Sampler::restore(settings, garbage).ok());
        QVERIFY(!Sampler::restore(SamplerSettings{.top_p = 0.0f}, blob).ok());
        QVERIFY(Sampler::restore(settings, blob).ok());
        // Random corruption: either a clear rejection or a sampler that works.
        ravel::Xoshiro256 r(321);
        const std::vector<float> logits(1000, 0.5f);
        for (int i = 0; i < 2000; ++i) {
            auto b = blob;
            const int flips = 1 + static_cast<int>(r.next() % 4);
            for (int f = 0; f < flips; ++f) b[r.next() % b.size()] = std::byte(r.next() & 0xff);
            auto restored = Sampler::restore(settings, b);
            if (!restored) continue;
            const int t = restored->sample(logits);
            QVERIFY(t >= 0 && t < 1000);
            restored->accept(t);
        }
    }

    void largeVocabularyIsFast() {
        // Not a timed assertion (DESIGN.md: speed is shown by benchmarks); reports the cost of
        // the chat settings over a World-sized vocabulary.
        std::vector<float> logits(65536);
        ravel::Xoshiro256 r(5);
        for (auto& l : logits) l = static_cast<float>(r.next_double() * 20.0 - 10.0);
        Sampler s = make(SamplerSettings::chat_defaults());
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < 50; ++i) s.accept(s.sample(logits));
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        qInfo("vocab 65536, top-p 0.3 + penalties: %.3f ms per token", ms / 50);
    }
};

QTEST_APPLESS_MAIN(TestSampler)
#include "test_sampler.moc"
