/// Whether this build has CURVE security (the package's `CURVE` trait, with libsodium).
public enum CurveAvailability {
    #if CURVE
    public static let isBuilt = true
    #else
    public static let isBuilt = false
    #endif

    /// What a user who asks for CURVE without it must do.
    public static let missingMessage = "CURVE is not built in: install libsodium (apt-get install libsodium-dev, or brew install libsodium) and build with the CURVE trait (swift build --traits CURVE, or traits: [\"CURVE\"] on the package dependency)"
}
