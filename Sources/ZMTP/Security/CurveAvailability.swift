/// Whether this build has CURVE security (the package's `CURVE` trait, with libsodium).
public enum CurveAvailability {
    #if CURVE
    public static let isBuilt = true
    #else
    public static let isBuilt = false
    #endif
}
